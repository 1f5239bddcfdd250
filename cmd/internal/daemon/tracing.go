package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubepatrol/patrol/checks"
)

// tracerName is the instrumentation scope of patrold's spans.
const tracerName = "github.com/kubepatrol/patrol/cmd/internal/daemon"

// Span attribute keys.
const (
	attrCluster       = attribute.Key("patrol.cluster")
	attrGroup         = attribute.Key("patrol.group")
	attrSnapshot      = attribute.Key("patrol.snapshot.id")
	attrCheckID       = attribute.Key("patrol.check.id")
	attrCheckResult   = attribute.Key("patrol.check.result")
	attrCheckFindings = attribute.Key("patrol.check.findings")
	attrCheckDetail   = attribute.Key("patrol.check.detail")
	attrFindings      = attribute.Key("patrol.findings")
	attrObjects       = attribute.Key("patrol.objects")
	attrGaps          = attribute.Key("patrol.coverage.gaps")
	attrResult        = attribute.Key("patrol.sweep.result")
)

// NewTracerProvider returns the SDK tracer provider patrold uses. Every
// sweep gets a trace ID (reports and findings carry it); spans leave the
// process only when the standard environment asks for an exporter:
//
//   - OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint
//     (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
//   - OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turn exporting off;
//   - OTEL_EXPORTER_OTLP_PROTOCOL (or ..._TRACES_PROTOCOL): grpc or
//     http/protobuf (the default);
//   - the exporters read the rest (headers, TLS, timeout) themselves, and
//     OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES name the resource.
//
// exporting reports whether an exporter was configured.
func NewTracerProvider(ctx context.Context, version string, getenv func(string) string) (tp *sdktrace.TracerProvider, exporting bool, err error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "patrold"), attribute.String("service.version", version)),
		resource.WithFromEnv(),
	)
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES still yields a partial
		// resource; use it.
		if res == nil {
			return nil, false, fmt.Errorf("otel resource: %w", err)
		}
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exp, err := exporterFromEnv(ctx, getenv)
	if err != nil {
		return nil, false, err
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), exp != nil, nil
}

func exporterFromEnv(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return nil, nil
	}
	kind := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	switch kind {
	case "none":
		return nil, nil
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil // off by default
		}
	case "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: patrold supports otlp and none", kind)
	}
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "grpc":
		return otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want grpc or http/protobuf", proto)
}

// checkSpan records one check's run as a child span of ctx's span: the
// Runner reports a run when it ends, so the span is back-dated by its
// duration.
func checkSpan(ctx context.Context, tr trace.Tracer, r checks.Run, end time.Time) {
	_, span := tr.Start(ctx, "patrol.check "+r.Check, trace.WithTimestamp(end.Add(-r.Duration)),
		trace.WithAttributes(attrCheckID.String(r.Check), attrCheckResult.String(string(r.Result)), attrCheckFindings.Int(r.Findings)))
	if r.Detail != "" {
		span.SetAttributes(attrCheckDetail.String(r.Detail))
	}
	if r.Result == checks.ResultError || r.Result == checks.ResultTimeout {
		span.SetStatus(codes.Error, r.Detail)
	}
	span.End(trace.WithTimestamp(end))
}
