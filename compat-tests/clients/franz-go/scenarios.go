package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sMetadataBrokers(ctx context.Context) string {
	createTopic(2)
	adm, cl := newAdmin()
	defer cl.Close()
	md, err := adm.Metadata(ctx, topic)
	must(err, "Metadata")
	expect(len(md.Brokers) == 1, "expected 1 broker, metadata lists %v", md.Brokers)
	b := md.Brokers[0]
	addr := fmt.Sprintf("%s:%d", b.Host, b.Port)
	expect(addr == bootstrap, "broker %d advertised as %s, expected %s", b.NodeID, addr, bootstrap)
	t, ok := md.Topics[topic]
	expect(ok && t.Err == nil, "topic %s missing from metadata (%v)", topic, t.Err)
	leaders := map[int32]bool{}
	var epochs []int32
	for _, p := range sortedKeys(t.Partitions) {
		leaders[t.Partitions[p].Leader] = true
		epochs = append(epochs, t.Partitions[p].LeaderEpoch)
	}
	expect(len(t.Partitions) == 2 && len(leaders) == 1 && leaders[b.NodeID],
		"partitions %v leaders %v, expected 2 led by %d", sortedKeys(t.Partitions), sortedKeys(leaders), b.NodeID)
	expect(md.Controller == b.NodeID, "controller id %d, expected %d", md.Controller, b.NodeID)
	return fmt.Sprintf("broker id %d at %s leads both partitions (leader epochs %v), and is the controller", b.NodeID, addr, epochs)
}

func sTopicAdmin(ctx context.Context) string {
	adm, cl := newAdmin()
	defer cl.Close()
	retention := "3600000"
	res, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": &retention}, topic)
	must(err, "CreateTopics")
	must(res.Error(), "CreateTopics")
	var d kadm.TopicDetail
	waitFor(ctx, 20*time.Second, func() bool {
		md, err := adm.Metadata(ctx, topic)
		must(err, "Metadata")
		d = md.Topics[topic]
		if d.Err != nil || len(d.Partitions) != 3 {
			return false
		}
		for _, p := range d.Partitions {
			if p.Leader < 0 {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("topic not ready after 20s: %d partitions (%v)", len(d.Partitions), d.Err)
	})
	listed, err := adm.ListTopics(ctx)
	must(err, "ListTopics")
	expect(listed.Has(topic), "created topic not listed")
	expect(fmt.Sprint(sortedKeys(d.Partitions)) == "[0 1 2]", "describe: partition ids %v", sortedKeys(d.Partitions))
	dres, err := adm.DeleteTopics(ctx, topic)
	must(err, "DeleteTopics")
	must(dres.Error(), "DeleteTopics")
	waitFor(ctx, 20*time.Second, func() bool {
		listed, err := adm.ListTopics(ctx)
		must(err, "ListTopics")
		return !listed.Has(topic)
	}, func() string { return "deleted topic still listed after 20s" })
	return "created, listed, described (3 partitions with a leader), deleted, no longer listed"
}

func sRoundtrip(ctx context.Context) string {
	createTopic(3)
	cl := newClient(kgo.ProducerLinger(5 * time.Millisecond))
	produce(ctx, cl, gen("roundtrip"))
	cl.Close()
	got := consumeFrom(ctx, fromStart(3))
	return check(got, "roundtrip")
}

func compression(name string, codec kgo.CompressionCodec) func(context.Context) string {
	return func(ctx context.Context) string {
		createTopic(1)
		cl := newClient(kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(50*time.Millisecond))
		produce(ctx, cl, gen("compression"))
		cl.Close()
		got := consumeFrom(ctx, fromStart(1))
		return check(got, "compression") + " (" + name + ")"
	}
}

// seeded: a 1-partition topic with the n seeded "cf" records; returns their TS_BASE.
func seeded(n int) string {
	createTopic(1)
	return fixture("produce-seeded", bootstrap, topic, "--prefix", "cf", "--count", fmt.Sprint(n))
}

func sConsumeBeginning(ctx context.Context) string {
	ts := seeded(10)
	got := consumeFrom(ctx, map[int32]kgo.Offset{0: kgo.NewOffset().AtStart()})
	return check(got, "seeded", "--prefix", "cf", "--ts-base", ts) + " from offset 0"
}

func sConsumeEnd(ctx context.Context) string {
	seeded(10)
	c := newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtEnd()}}))
	defer c.Close()
	p := newClient()
	defer p.Close()
	var got []*kgo.Record
	// Produce a new record each time a poll comes back empty, until the consumer
	// has 2 (records produced before it found the end are skipped).
	n := 0
	for polls := 0; len(got) < 2; polls++ {
		expect(polls < 60, "consumer started at the end got %d records after %d were produced", len(got), n)
		recs := poll(ctx, c, 500*time.Millisecond, 0)
		if len(recs) == 0 {
			produce(ctx, p, []*kgo.Record{{Key: fmt.Appendf(nil, "late-key-%03d", n), Value: fmt.Appendf(nil, "late-value-%03d", n)}})
			n++
		}
		got = append(got, recs...)
	}
	return check(got, "late") + fmt.Sprintf(", the first at offset %d", got[0].Offset)
}

func sConsumeOffset(ctx context.Context) string {
	ts := seeded(10)
	got := consumeFrom(ctx, map[int32]kgo.Offset{0: kgo.NewOffset().At(5)})
	return check(got, "seeded", "--prefix", "cf", "--first", "5", "--count", "5", "--ts-base", ts) + " from offset 5"
}

func sConsumeTimestamp(ctx context.Context) string {
	ts := seeded(10)
	var base int64
	fmt.Sscan(ts, &base)
	adm, cl := newAdmin()
	defer cl.Close()
	l, err := adm.ListOffsetsAfterMilli(ctx, base+5000, topic)
	must(err, "ListOffsetsAfterMilli")
	o, _ := l.Lookup(topic, 0)
	expect(o.Err == nil && o.Offset == 5, "ListOffsetsAfterMilli(timestamp of #5) = offset %d (%v), expected 5", o.Offset, o.Err)
	got := consumeFrom(ctx, map[int32]kgo.Offset{0: kgo.NewOffset().AfterMilli(base + 5000)})
	return fmt.Sprintf("timestamp %d -> offset 5; ", base+5000) +
		check(got, "seeded", "--prefix", "cf", "--first", "5", "--count", "5", "--ts-base", ts)
}

func sListOffsets(ctx context.Context) string {
	ts := seeded(10)
	var base int64
	fmt.Sscan(ts, &base)
	adm, cl := newAdmin()
	defer cl.Close()
	one := func(what string, l kadm.ListedOffsets, err error, want int64) string {
		must(err, what)
		o, ok := l.Lookup(topic, 0)
		expect(ok && o.Err == nil && o.Offset == want, "%s = %d (%v), expected %d", what, o.Offset, o.Err, want)
		return fmt.Sprintf("%s=%d", what, o.Offset)
	}
	var seen []string
	l, err := adm.ListStartOffsets(ctx, topic)
	seen = append(seen, one("earliest", l, err, 0))
	l, err = adm.ListEndOffsets(ctx, topic)
	seen = append(seen, one("latest", l, err, 10))
	l, err = adm.ListOffsetsAfterMilli(ctx, base+5000, topic)
	seen = append(seen, one("time of #5", l, err, 5))
	l, err = adm.ListOffsetsAfterMilli(ctx, base+5500, topic)
	seen = append(seen, one("time between #5 and #6", l, err, 6))
	// kadm answers "no offset after this time" (the broker's -1) with the end
	// offset, so ask the broker itself with a plain ListOffsets request too.
	l, err = adm.ListOffsetsAfterMilli(ctx, base+60000, topic)
	seen = append(seen, one("kadm time after the last record", l, err, 10))
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, base+60000
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	must(err, "ListOffsets")
	expect(len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1, "ListOffsets answered %d topics", len(resp.Topics))
	rpp := resp.Topics[0].Partitions[0]
	expect(rpp.ErrorCode == 0 && rpp.Offset == -1, "ListOffsets v%d by a time after the last record = offset %d (error %d), expected -1",
		resp.GetVersion(), rpp.Offset, rpp.ErrorCode)
	seen = append(seen, fmt.Sprintf("ListOffsets v%d time after the last record=-1", resp.GetVersion()))
	return strings.Join(seen, ", ")
}

func sLargeRecord(ctx context.Context) string {
	createTopic(1, "max.message.bytes=2097152")
	cl := newClient(kgo.ProducerBatchMaxBytes(2097152))
	produce(ctx, cl, gen("large"))
	cl.Close()
	got := consumeFrom(ctx, fromStart(1), kgo.FetchMaxBytes(4194304), kgo.FetchMaxPartitionBytes(4194304))
	return check(got, "large")
}

func sRecordTooLarge(ctx context.Context) string {
	createTopic(1, "max.message.bytes=10000")
	// uncompressed: franz-go compresses with snappy by default, and the broker
	// checks max.message.bytes against the compressed batch
	cl := newClient(kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("big"), Value: make([]byte, 20000)}).FirstErr()
	expect(err != nil, "a 20000-byte record was accepted by a topic with max.message.bytes=10000")
	// kgo fails a record over its own batch limit with "MESSAGE_TOO_LARGE
	// (uncompressed_bytes=N)"; the broker's answer comes with compressed_bytes too
	expect(errors.Is(err, kerr.MessageTooLarge) && strings.Contains(err.Error(), "compressed_bytes="),
		"produce error %q, expected MESSAGE_TOO_LARGE from the broker", err)
	adm := kadm.NewClient(cl)
	end := endOffsets(ctx, adm)
	expect(end[0] == 0, "end offset %d after the rejected record, expected 0", end[0])
	return fmt.Sprintf("produce error %v; nothing stored (end offset 0)", err)
}

func sUnknownTopic(ctx context.Context) string {
	adm, acl := newAdmin()
	defer acl.Close()
	md, err := adm.Metadata(ctx, topic)
	must(err, "Metadata")
	t := md.Topics[topic]
	expect(errors.Is(t.Err, kerr.UnknownTopicOrPartition), "metadata for a missing topic: %v, expected UNKNOWN_TOPIC_OR_PARTITION", t.Err)
	cl := newClient(kgo.RecordDeliveryTimeout(20 * time.Second))
	defer cl.Close()
	perr := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("nobody home")}).FirstErr()
	expect(perr != nil, "producing to a missing topic succeeded")
	expect(errors.Is(perr, kerr.UnknownTopicOrPartition), "produce error %q, expected UNKNOWN_TOPIC_OR_PARTITION", perr)
	listed, err := adm.ListTopics(ctx)
	must(err, "ListTopics")
	expect(!listed.Has(topic), "the missing topic got created")
	return fmt.Sprintf("metadata error %v; produce error %v; topic not created", t.Err, perr)
}

func sOffsetOutOfRange(ctx context.Context) string {
	ts := seeded(5)
	got := consumeFrom(ctx, map[int32]kgo.Offset{0: kgo.NewOffset().At(100)},
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	return "offset 100 reset to the start: " + check(got, "seeded", "--prefix", "cf", "--count", "5", "--ts-base", ts)
}

// ------------------------------------------------------------------ groups

// seedGroupTopic: 3 partitions, the 30 seeded "grp" records (record i in partition i % 3).
func seedGroupTopic() {
	createTopic(3)
	fixture("produce-seeded", bootstrap, topic, "--prefix", "grp", "--count", "30", "--spread", "3")
}

var groupEnd = map[int32]int64{0: 10, 1: 10, 2: 10}

// member is a group consumer (cooperative-sticky, franz-go's default balancer;
// no autocommit) that tracks which partitions it owns.
type member struct {
	cl    *kgo.Client
	mu    sync.Mutex
	owned map[int32]bool
	got   []*kgo.Record
}

func newMember(group, name string, reset kgo.Offset) *member {
	m := &member{owned: map[int32]bool{}}
	update := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range ps[topic] {
				if add {
					m.owned[p] = true
				} else {
					delete(m.owned, p)
				}
			}
		}
	}
	m.cl = newClient(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ClientID(name),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(reset),
		kgo.OnPartitionsAssigned(update(true)), kgo.OnPartitionsRevoked(update(false)),
		kgo.OnPartitionsLost(update(false)))
	return m
}

func (m *member) ownedList() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.owned)
}

// step polls up to max records (waiting up to 100 ms) and commits each one
// synchronously after reading it.
func (m *member) step(ctx context.Context, max int) {
	for _, r := range poll(ctx, m.cl, 100*time.Millisecond, max) {
		m.got = append(m.got, r)
		must(m.cl.CommitRecords(ctx, r), "commit")
	}
}

// poll returns what one poll gives within d (at most max records; 0 = no limit).
func poll(ctx context.Context, cl *kgo.Client, d time.Duration, max int) []*kgo.Record {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	fs := cl.PollRecords(pctx, max)
	for _, fe := range fs.Errors() {
		if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
			continue
		}
		fail("fetch error on %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
	}
	expect(ctx.Err() == nil, "scenario timed out")
	return fs.Records()
}

// waitFor runs cond (and step, if given, between tries) until cond holds; fails
// with what() after timeout.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool, what func() string, step ...func()) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			fail("%s", what())
		}
		if len(step) > 0 {
			step[0]()
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// readN reads n records with m, committing each.
func (m *member) readN(ctx context.Context, n int, timeout time.Duration) {
	waitFor(ctx, timeout, func() bool { return len(m.got) >= n },
		func() string { return fmt.Sprintf("read %d of %d records", len(m.got), n) },
		func() { m.step(ctx, n-len(m.got)) })
}

// readToEnd: m polls until every partition of end has been read up to its end
// offset, counting the records in prior (read before by another instance).
func (m *member) readToEnd(ctx context.Context, end map[int32]int64, prior []*kgo.Record, timeout time.Duration) {
	next := map[int32]int64{}
	for _, r := range append(slices.Clone(prior), m.got...) {
		next[r.Partition] = max(next[r.Partition], r.Offset+1)
	}
	waitFor(ctx, timeout, func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("read %d records, reached offsets %v of end offsets %v", len(m.got), next, end)
	}, func() {
		recs := poll(ctx, m.cl, 100*time.Millisecond, 0)
		for _, r := range recs {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		}
		m.got = append(m.got, recs...)
	})
}

func committed(ctx context.Context, adm *kadm.Client, group string) map[int32]int64 {
	res, err := adm.FetchOffsets(ctx, group)
	must(err, "FetchOffsets")
	out := map[int32]int64{}
	for p, o := range res[topic] {
		must(o.Err, "FetchOffsets")
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out
}

func sum(m map[int32]int64) (s int64) {
	for _, v := range m {
		s += v
	}
	return s
}

func sGroupResume(ctx context.Context) string {
	seedGroupTopic()
	group := topic + "-group"
	a := newMember(group, "first", kgo.NewOffset().AtStart())
	for i := 0; len(a.got) < 12; i++ {
		expect(i < 300, "first instance got %d of 12 records", len(a.got))
		a.got = append(a.got, poll(ctx, a.cl, 100*time.Millisecond, 12-len(a.got))...)
	}
	must(a.cl.CommitRecords(ctx, a.got...), "commit")
	a.cl.Close()
	adm, acl := newAdmin()
	defer acl.Close()
	c := committed(ctx, adm, group)
	expect(sum(c) == 12, "committed offsets %v do not add up to 12", c)
	b := newMember(group, "second", kgo.NewOffset().AtStart())
	defer b.cl.Close()
	b.readToEnd(ctx, groupEnd, a.got, 30*time.Second)
	check(append(a.got, b.got...), "group", "--prefix", "grp", "--count", "30")
	return fmt.Sprintf("first instance consumed 12 and committed %v, the second resumed with the other %d; all 30 exactly once", c, len(b.got))
}

func sGroupRestart(ctx context.Context) string {
	seedGroupTopic()
	group := topic + "-group"
	a := newMember(group, "first", kgo.NewOffset().AtStart())
	a.readN(ctx, 12, 30*time.Second)
	a.cl.Close()
	restartBroker(ctx)
	// lost commits would show as duplicates: this instance would start over at offset 0
	b := newMember(group, "second", kgo.NewOffset().AtStart())
	defer b.cl.Close()
	b.readToEnd(ctx, groupEnd, a.got, 60*time.Second)
	check(append(a.got, b.got...), "group", "--prefix", "grp", "--count", "30")
	return fmt.Sprintf("12 records before the broker restart, the other %d after it from the committed offsets; all 30 exactly once", len(b.got))
}

// sGroupHandover: two members split 4 partitions 2+2; A reads all of its share, B
// 5 records of its share and closes (LeaveGroup); A then owns all 4 partitions and
// reads on from B's committed offsets, then the 40 records of phase 2.
func sGroupHandover(ctx context.Context) string {
	createTopic(4)
	group := topic + "-group"
	a, b := newMember(group, "member-a", kgo.NewOffset().AtStart()), newMember(group, "member-b", kgo.NewOffset().AtStart())
	bOpen := true
	defer func() {
		a.cl.Close()
		if bOpen {
			b.cl.Close()
		}
	}()
	both := func() { a.step(ctx, 0); b.step(ctx, 1) }
	waitFor(ctx, 20*time.Second, func() bool { return len(a.ownedList()) == 2 && len(b.ownedList()) == 2 },
		func() string { return fmt.Sprintf("no 2+2 split: A owns %v, B owns %v", a.ownedList(), b.ownedList()) }, both)
	pa, pb := a.ownedList(), b.ownedList()
	expect(fmt.Sprint(sortedKeys(map[int32]bool{pa[0]: true, pa[1]: true, pb[0]: true, pb[1]: true})) == "[0 1 2 3]",
		"A owns %v, B owns %v", pa, pb)
	list := func(ps []int32) string { return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ps)), ","), "[]") }
	fixture("produce-handover", bootstrap, topic, "--phase", "1", "--partitions", list(pa))
	waitFor(ctx, 30*time.Second, func() bool { return len(a.got) >= 20 },
		func() string { return fmt.Sprintf("A read %d of 20", len(a.got)) }, both)
	fixture("produce-handover", bootstrap, topic, "--phase", "1", "--partitions", list(pb))
	waitFor(ctx, 30*time.Second, func() bool { return len(b.got) >= 5 },
		func() string { return fmt.Sprintf("B read %d of 5", len(b.got)) }, func() { b.step(ctx, 1) })
	b.cl.Close() // leaves the group
	bOpen = false
	waitFor(ctx, 30*time.Second, func() bool { return len(a.ownedList()) == 4 },
		func() string { return fmt.Sprintf("after B left, A owns %v", a.ownedList()) }, func() { a.step(ctx, 0) })
	fixture("produce-handover", bootstrap, topic, "--phase", "2", "--partitions", "0,1,2,3")
	// every partition now ends at offset 20: read until A is there on all four
	// (a partition restarted below B's commit would show up as duplicates)
	a.readToEnd(ctx, map[int32]int64{0: 20, 1: 20, 2: 20, 3: 20}, nil, 30*time.Second)
	expect(len(b.got) == 5 && len(a.got) == 75, "A read %d, B %d records; expected 75 and 5", len(a.got), len(b.got))
	check(append(slices.Clone(b.got), a.got...), "handover")
	return fmt.Sprintf("split 2+2 (A %v, B %v); B read 5 and left; A took all 4 and read 75; all 80 exactly once", pa, pb)
}

func sGroupsAdmin(ctx context.Context) string {
	seedGroupTopic()
	group := topic + "-group"
	adm, acl := newAdmin()
	defer acl.Close()
	first := newMember(group, "first", kgo.NewOffset().AtStart())
	first.readN(ctx, 12, 30*time.Second)
	first.cl.Close()
	read := map[int32]int64{}
	for _, r := range first.got {
		read[r.Partition] = max(read[r.Partition], r.Offset+1)
	}

	listed, err := adm.ListGroups(ctx)
	must(err, "ListGroups")
	lg, ok := listed[group]
	expect(ok && lg.State == "Empty", "ListGroups: %s is %q (listed: %v), expected Empty", group, lg.State, ok)
	dg := describe(ctx, adm, group)
	expect(dg.State == "Empty" && len(dg.Members) == 0, "describe: state %s, %d members", dg.State, len(dg.Members))
	c := committed(ctx, adm, group)
	expect(fmt.Sprint(c) == fmt.Sprint(read), "committed offsets %v, but the consumer read up to %v", c, read)

	var zero kadm.Offsets
	for p := int32(0); p < 3; p++ {
		zero.AddOffset(topic, p, 0, -1)
	}
	res, err := adm.CommitOffsets(ctx, group, zero)
	must(err, "CommitOffsets")
	must(res.Error(), "CommitOffsets")
	c = committed(ctx, adm, group)
	expect(fmt.Sprint(c) == "map[0:0 1:0 2:0]", "committed offsets after the reset %v, expected 0 on all 3", c)

	// reset to the end: only the offsets committed above can make it read from 0
	m := newMember(group, "second", kgo.NewOffset().AtEnd())
	mOpen := true
	defer func() {
		if mOpen {
			m.cl.Close()
		}
	}()
	m.readToEnd(ctx, groupEnd, nil, 30*time.Second)
	check(m.got, "group", "--prefix", "grp", "--count", "30")
	dg = describe(ctx, adm, group)
	expect(dg.State == "Stable" && len(dg.Members) == 1, "describe an active group: state %s, %d members", dg.State, len(dg.Members))
	var owned []int32
	if as, ok := dg.Members[0].Assigned.AsConsumer(); ok {
		for _, t := range as.Topics {
			if t.Topic == topic {
				owned = append(owned, t.Partitions...)
			}
		}
	}
	slices.Sort(owned)
	expect(fmt.Sprint(owned) == "[0 1 2]", "describe: the member is assigned %v", owned)
	del, err := adm.DeleteGroups(ctx, group)
	must(err, "DeleteGroups")
	expect(errors.Is(del[group].Err, kerr.NonEmptyGroup), "delete of an active group: %v, expected NON_EMPTY_GROUP", del[group].Err)
	must(m.cl.CommitUncommittedOffsets(ctx), "commit")
	m.cl.Close()
	mOpen = false
	c = committed(ctx, adm, group)
	expect(fmt.Sprint(c) == "map[0:10 1:10 2:10]", "committed offsets after reading all %v, expected 10 on all 3", c)
	del, err = adm.DeleteGroups(ctx, group)
	must(err, "DeleteGroups")
	must(del[group].Err, "DeleteGroups of the empty group")
	listed, err = adm.ListGroups(ctx)
	must(err, "ListGroups")
	_, ok = listed[group]
	expect(!ok, "the deleted group is still listed")
	return fmt.Sprintf("list (Empty), describe, committed offsets = what the consumer read %v, reset to 0 (next member read all 30), "+
		"delete refused while active (NON_EMPTY_GROUP), accepted after, then not listed", read)
}

func describe(ctx context.Context, adm *kadm.Client, group string) kadm.DescribedGroup {
	ds, err := adm.DescribeGroups(ctx, group)
	must(err, "DescribeGroups")
	d, ok := ds[group]
	expect(ok, "DescribeGroups: no answer for %s", group)
	must(d.Err, "DescribeGroups")
	return d
}

func sIdempotent(ctx context.Context) string {
	createTopic(1)
	cl := newClient() // franz-go's defaults: idempotent, acks=all
	produce(ctx, cl, gen("idempotent"))
	id, epoch, err := cl.ProducerID(ctx)
	must(err, "ProducerID")
	expect(id >= 0, "producer id %d", id)
	cl.Close()
	got := consumeFrom(ctx, fromStart(1))
	return check(got, "idempotent") + fmt.Sprintf(" (idempotent producer, acks=all, producer id %d epoch %d)", id, epoch)
}
