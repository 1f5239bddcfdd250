package remediation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// WebhookMessage is Alertmanager's webhook body, version "4".
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a webhook message.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// BadRequestError is a webhook body that cannot be accepted; its message
// names the problem (the HTTP handler answers 400 with it).
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

func bad(format string, args ...any) error {
	return &BadRequestError{Msg: fmt.Sprintf(format, args...)}
}

// ParseWebhook decodes and validates an Alertmanager webhook body. Errors
// are *BadRequestError naming the field (and the byte offset for
// malformed JSON).
func ParseWebhook(body []byte) (*WebhookMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var m WebhookMessage
	if err := dec.Decode(&m); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, bad("malformed JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return nil, bad("field %q: want %s, got JSON %s (byte %d)", te.Field, te.Type, te.Value, te.Offset)
		case errors.Is(err, io.EOF):
			return nil, bad("empty body: want an Alertmanager webhook message (version 4)")
		default:
			return nil, bad("malformed JSON: %v", err)
		}
	}
	if dec.More() {
		return nil, bad("trailing data after the JSON message at byte %d", dec.InputOffset())
	}
	if m.Version != "4" {
		if m.Version == "" {
			return nil, bad("field \"version\" is missing: want \"4\" (Alertmanager's webhook format)")
		}
		return nil, bad("field \"version\" is %q: only version \"4\" is understood", m.Version)
	}
	if err := status("status", m.Status); err != nil {
		return nil, err
	}
	if len(m.Alerts) == 0 {
		return nil, bad("field \"alerts\" is empty: nothing to do")
	}
	for i := range m.Alerts {
		a := &m.Alerts[i]
		if err := status(fmt.Sprintf("alerts[%d].status", i), a.Status); err != nil {
			return nil, err
		}
		if a.Labels["alertname"] == "" {
			return nil, bad("alerts[%d].labels.alertname is missing", i)
		}
		if a.Fingerprint == "" {
			return nil, bad("alerts[%d].fingerprint is missing (alert %s)", i, a.Labels["alertname"])
		}
		if a.StartsAt.IsZero() {
			return nil, bad("alerts[%d].startsAt is missing (alert %s)", i, a.Labels["alertname"])
		}
	}
	return &m, nil
}

func status(field, s string) error {
	switch s {
	case "firing", "resolved":
		return nil
	case "":
		return bad("field %q is missing: want firing or resolved", field)
	}
	return bad("field %q is %q: want firing or resolved", field, strings.ToValidUTF8(s, "?"))
}
