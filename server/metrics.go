package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lockWait    prometheus.Histogram
	storeErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phpsess_http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "phpsess_http_request_duration_seconds",
			Help:    "Time to serve a request, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		lockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "phpsess_lock_wait_seconds",
			Help:    "Time spent waiting for the PHP side's session lock.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phpsess_store_errors_total",
			Help: "Store operations that failed (not counting a missing session or a refused id), by operation.",
		}, []string{"op"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.lockWait, m.storeErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) storeError(op string) { m.storeErrors.WithLabelValues(op).Inc() }

func (m *metrics) lockWaited(d time.Duration) { m.lockWait.Observe(d.Seconds()) }
