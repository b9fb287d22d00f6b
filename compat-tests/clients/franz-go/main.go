// Scenario driver for franz-go (github.com/twmb/franz-go: kgo for producing and
// consuming, kadm for admin requests).
//
//	usage: compat-franz-go SCENARIO
//	env:   BOOTSTRAP TOPIC CASE_DIR RESTART_BROKER, VENV_PY and COMPAT_PY (set by franz-go.sh)
//
// Prints "OK: what was observed" (exit 0) or "FAIL: why" (exit 1) as its last
// line. Test data, fixtures and record checks are the suite's shared ones in
// lib/compat.py: records to produce come from `compat.py gen KIND --client java`,
// consumed records go to `compat.py check KIND --format kcat` in kcat's line
// format. Everything the client observes besides records (metadata, offsets,
// error codes, group states) is asserted here.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// caseTimeout bounds one scenario; run.sh kills the driver after 120 s.
const caseTimeout = 110 * time.Second

var (
	bootstrap = mustEnv("BOOTSTRAP")
	topic     = mustEnv("TOPIC")
	caseDir   = mustEnv("CASE_DIR")
)

// failure is a scenario's assertion about what the client observed that did not hold.
type failure struct{ msg string }

func fail(format string, args ...any) { panic(failure{fmt.Sprintf(format, args...)}) }

func expect(cond bool, format string, args ...any) {
	if !cond {
		fail(format, args...)
	}
}

// must fails the scenario with what the client returned when err is not nil.
func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fmt.Printf("FAIL: %s is not set (run the scenario through run.sh)\n", name)
		os.Exit(1)
	}
	return v
}

var scenarios = map[string]func(ctx context.Context) string{
	"metadata-brokers":            sMetadataBrokers,
	"topic-admin":                 sTopicAdmin,
	"roundtrip-10k":               sRoundtrip,
	"compression-gzip":            compression("gzip", kgo.GzipCompression()),
	"compression-snappy":          compression("snappy", kgo.SnappyCompression()),
	"compression-lz4":             compression("lz4", kgo.Lz4Compression()),
	"compression-zstd":            compression("zstd", kgo.ZstdCompression()),
	"consume-from-beginning":      sConsumeBeginning,
	"consume-from-end":            sConsumeEnd,
	"consume-from-offset":         sConsumeOffset,
	"consume-from-timestamp":      sConsumeTimestamp,
	"list-offsets":                sListOffsets,
	"large-record-1mib":           sLargeRecord,
	"record-too-large":            sRecordTooLarge,
	"unknown-topic":               sUnknownTopic,
	"offset-out-of-range":         sOffsetOutOfRange,
	"consumer-group-resume":       sGroupResume,
	"consumer-group-restart":      sGroupRestart,
	"consumer-group-handover":     sGroupHandover,
	"consumer-groups-admin":       sGroupsAdmin,
	"idempotent-default-producer": sIdempotent,
}

func main() {
	if len(os.Args) != 2 {
		fmt.Println("FAIL: usage: compat-franz-go SCENARIO")
		os.Exit(1)
	}
	run, ok := scenarios[os.Args[1]]
	if !ok {
		fmt.Printf("FAIL: scenario %s not implemented by this driver\n", os.Args[1])
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	msg, err := runScenario(ctx, run)
	cancel()
	if err != nil {
		fmt.Printf("FAIL: %s\n", oneLine(err.Error()))
		os.Exit(1)
	}
	fmt.Printf("OK: %s\n", oneLine(msg))
}

func runScenario(ctx context.Context, run func(context.Context) string) (msg string, err error) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(failure); ok {
				err = errors.New(f.msg)
				return
			}
			panic(r)
		}
	}()
	return run(ctx), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// ------------------------------------------------------------------ clients

// logger sends the client's own log (info and up; FRANZ_GO_LOG=debug for every
// request) to the driver's stderr, which run.sh keeps for failed cases.
var logger = kgo.BasicLogger(os.Stderr, logLevel(), func() string {
	return time.Now().UTC().Format("15:04:05.000 ")
})

func logLevel() kgo.LogLevel {
	if os.Getenv("FRANZ_GO_LOG") == "debug" {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelInfo
}

func newClient(opts ...kgo.Opt) *kgo.Client {
	base := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.WithLogger(logger),
		kgo.RequestTimeoutOverhead(10 * time.Second),
		kgo.RecordDeliveryTimeout(30 * time.Second),
		// Java's and librdkafka's default; with kgo's 5 s, a fetch sent before a
		// new partition's start offset was looked up waits 5 s for nothing
		kgo.FetchMaxWait(500 * time.Millisecond),
		// kgo spaces metadata requests (kadm's ListTopics included) 5 s apart by
		// default; polling for a deleted topic to go away would wait that long
		kgo.MetadataMinAge(500 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	must(err, "kgo.NewClient")
	return cl
}

func newAdmin() (*kadm.Client, *kgo.Client) {
	cl := newClient()
	return kadm.NewClient(cl), cl
}

// produce sends recs (keys, values and headers as given) and waits for every ack.
func produce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) {
	for _, r := range recs {
		if r.Topic == "" {
			r.Topic = topic
		}
	}
	must(cl.ProduceSync(ctx, recs...).FirstErr(), "produce")
}

// endOffsets: partition -> end offset (high watermark) of the case's topic.
func endOffsets(ctx context.Context, adm *kadm.Client) map[int32]int64 {
	l, err := adm.ListEndOffsets(ctx, topic)
	must(err, "ListEndOffsets")
	must(l.Error(), "ListEndOffsets")
	out := map[int32]int64{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// consumeTo polls cl until, on every partition of `end`, a record at end-1 was
// consumed (partitions with end 0 need none), then returns the records in the
// order they came; fails after `timeout`. A fetch error fails the scenario.
func consumeTo(ctx context.Context, cl *kgo.Client, end map[int32]int64, timeout time.Duration) []*kgo.Record {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	next := map[int32]int64{}
	done := func() bool {
		for p, e := range end {
			if e > 0 && next[p] < e {
				return false
			}
		}
		return true
	}
	var got []*kgo.Record
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			fail("timed out after %s with %d records, at offsets %v of end offsets %v", timeout, len(got), next, end)
		}
		for _, fe := range fs.Errors() {
			fail("fetch error on %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, r)
			if r.Offset+1 > next[r.Partition] {
				next[r.Partition] = r.Offset + 1
			}
		})
	}
	return got
}

// consumeFrom reads partitions (of the case's topic) from the given offsets up to
// their current end offsets.
func consumeFrom(ctx context.Context, start map[int32]kgo.Offset, opts ...kgo.Opt) []*kgo.Record {
	adm, acl := newAdmin()
	end := endOffsets(ctx, adm)
	acl.Close()
	want := map[int32]int64{}
	for p := range start {
		want[p] = end[p]
	}
	cl := newClient(append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start})}, opts...)...)
	defer cl.Close()
	return consumeTo(ctx, cl, want, 30*time.Second)
}

func fromStart(partitions int32) map[int32]kgo.Offset {
	m := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		m[p] = kgo.NewOffset().AtStart()
	}
	return m
}

// ------------------------------------------------------------------ compat.py

// compatPy runs `compat.py ARGS...` with stdin; returns its stdout and whether it exited 0.
func compatPy(stdin []byte, args ...string) ([]byte, string, bool) {
	cmd := exec.Command(mustEnv("VENV_PY"), append([]string{mustEnv("COMPAT_PY")}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.Bytes(), lastLine(errb.String()), err == nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// fixture runs a compat.py fixture (create-topic, produce-seeded, ...); its
// stdout, trimmed, is returned; a failure ends the scenario.
func fixture(args ...string) string {
	out, errLine, ok := compatPy(nil, args...)
	expect(ok, "fixture '%s' failed: %s", args[0], errLine)
	return strings.TrimSpace(string(out))
}

func createTopic(partitions int, configs ...string) {
	args := []string{"create-topic", bootstrap, topic, "--partitions", fmt.Sprint(partitions)}
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	fixture(args...)
}

// gen: the records of a kind (roundtrip, compression, large, idempotent), from
// the console-producer lines compat.py writes: "h:v,h:v<TAB>key<TAB>value" when
// the records have headers, else "key<TAB>value" (or a bare value: null key).
func gen(kind string) []*kgo.Record {
	out, errLine, ok := compatPy(nil, "gen", kind, "--client", "java")
	expect(ok, "compat.py gen %s failed: %s", kind, errLine)
	var recs []*kgo.Record
	for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		parts := bytes.SplitN(line, []byte("\t"), 3)
		r := &kgo.Record{}
		switch len(parts) {
		case 3:
			for _, h := range bytes.Split(parts[0], []byte(",")) {
				k, v, _ := bytes.Cut(h, []byte(":"))
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(k), Value: v})
			}
			r.Key, r.Value = parts[1], parts[2]
		case 2:
			r.Key, r.Value = parts[0], parts[1]
		default:
			r.Value = parts[0]
		}
		recs = append(recs, r)
	}
	return recs
}

// kcatLines: records in the kcat consumer format compat.py parses,
// P<partition> O<offset> T<timestamp> K<key> H<k=v,...> V<value>, TAB-separated.
func kcatLines(recs []*kgo.Record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "P%d\tO%d\tT%d\tK%s\tH", r.Partition, r.Offset, r.Timestamp.UnixMilli(), r.Key)
		for i, h := range r.Headers {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%s", h.Key, h.Value)
		}
		fmt.Fprintf(&b, "\tV%s\n", r.Value)
	}
	return b.Bytes()
}

// check has compat.py judge consumed records: `compat.py check KIND ARGS...`;
// returns its "OK: " summary or fails with its "FAIL: " reason.
func check(recs []*kgo.Record, kind string, args ...string) string {
	out, errLine, ok := compatPy(kcatLines(recs), append([]string{"check", kind, "--format", "kcat", "--client", "franz-go"}, args...)...)
	verdict := lastLine(string(out))
	if !ok || !strings.HasPrefix(verdict, "OK: ") {
		if verdict == "" {
			verdict = errLine
		}
		fail("%s", strings.TrimPrefix(verdict, "FAIL: "))
	}
	return strings.TrimPrefix(verdict, "OK: ")
}

// restartBroker restarts the broker under test (same port and data dir) with the
// command run.sh gives in RESTART_BROKER; returns once it answers Metadata again.
func restartBroker(ctx context.Context) {
	args := strings.Fields(mustEnv("RESTART_BROKER"))
	ctx, cancel := context.WithTimeout(ctx, 100*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		fail("broker restart failed (%v): %s", err, lastLine(errb.String()))
	}
}

func partitionsOf(recs []*kgo.Record) []int32 {
	seen := map[int32]bool{}
	for _, r := range recs {
		seen[r.Partition] = true
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
