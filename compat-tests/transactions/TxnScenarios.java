// The transaction scenarios of compat-tests/transactions.sh, with kafka-clients 4.x. One
// scenario per run:
//
//   java TxnScenarios commit-abort BOOTSTRAP TOPIC        (a) commits and aborts, both isolation levels
//   java TxnScenarios fencing BOOTSTRAP TOPIC             (b) a second producer fences the first
//   java TxnScenarios ctp BOOTSTRAP IN OUT GROUP          (c) consume-transform-produce with sendOffsetsToTransaction
//   java TxnScenarios hold-open BOOTSTRAP TOPIC ID FILE   (d) a transaction left open until FILE exists
//   java TxnScenarios create-topics BOOTSTRAP NAME:PARTITIONS...   (replication factor 1)
//   java TxnScenarios produce-lines BOOTSTRAP TOPIC FILE  the word count's input, one record per line
//   java TxnScenarios wait-committed BOOTSTRAP TOPIC SECONDS [APP_PID]   the word count has committed output
//   java TxnScenarios wait-counts BOOTSTRAP TOPIC FILE SECONDS   the word count's output
//
// The topics are created by the script. Each scenario prints what it saw as `== ...`
// lines and ends with `OK: ...` (exit 0) or `FAIL: ...` (exit 1).
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnScenarios {
    static String bootstrap;

    static final class Fail extends RuntimeException {
        Fail(String m) {
            super(m);
        }
    }

    static void check(boolean ok, String why) {
        if (!ok) throw new Fail(why);
    }

    static void say(String s) {
        System.out.println("== " + s);
        System.out.flush();
    }

    static KafkaProducer<String, String> producer(String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        if (transactionalId != null) {
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
            p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "60000");
        }
        return new KafkaProducer<>(p);
    }

    static <V> KafkaConsumer<String, V> consumer(String isolation, String group, Class<?> valueDeserializer) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, valueDeserializer.getName());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5");
        }
        return new KafkaConsumer<>(p);
    }

    static List<TopicPartition> partitions(KafkaConsumer<?, ?> c, String topic) {
        return c.partitionsFor(topic, Duration.ofSeconds(20)).stream()
            .map(i -> new TopicPartition(i.topic(), i.partition()))
            .sorted((a, b) -> Integer.compare(a.partition(), b.partition()))
            .collect(Collectors.toList());
    }

    /**
     * Reads a whole topic from the start at an isolation level: partition -> values in
     * offset order. Stops once at least `expected` records were read and every position is
     * at the end offset (the last stable offset for read_committed), or after 30 s.
     */
    static Map<Integer, List<String>> readAll(String topic, String isolation, int expected) {
        Map<Integer, List<String>> out = new TreeMap<>();
        try (KafkaConsumer<String, String> c = consumer(isolation, null, StringDeserializer.class)) {
            List<TopicPartition> tps = partitions(c, topic);
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + 30_000;
            int got = 0;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.value());
                    got++;
                }
                if (got >= expected) {
                    Map<TopicPartition, Long> end = c.endOffsets(tps);
                    boolean atEnd = true;
                    for (TopicPartition tp : tps) atEnd &= c.position(tp) >= end.get(tp);
                    if (atEnd) break;
                }
            }
        }
        return out;
    }

    static int count(Map<Integer, List<String>> m) {
        return m.values().stream().mapToInt(List::size).sum();
    }

    // ---------------------------------------------------------------- (a)
    /**
     * 15 transactions of 10 records, spread over 3 partitions (record i of the run goes to
     * partition i % 3): transactions 2, 5, 8, 11 and 14 (0-based) are aborted, the other
     * 10 committed, so 100 committed records and 50 aborted ones, interleaved.
     */
    static String commitAbort(String topic) throws Exception {
        Map<Integer, List<String>> committed = new TreeMap<>();
        Map<Integer, List<String>> all = new TreeMap<>();
        int seq = 0;
        try (KafkaProducer<String, String> p = producer("txn-commit-abort")) {
            p.initTransactions();
            for (int t = 0; t < 15; t++) {
                boolean abort = t % 3 == 2;
                p.beginTransaction();
                for (int i = 0; i < 10; i++, seq++) {
                    int partition = seq % 3;
                    String value = (abort ? "aborted-" : "committed-") + t + "-" + i;
                    p.send(new ProducerRecord<>(topic, partition, "k" + seq, value));
                    all.computeIfAbsent(partition, k -> new ArrayList<>()).add(value);
                    if (!abort) committed.computeIfAbsent(partition, k -> new ArrayList<>()).add(value);
                }
                if (abort) {
                    p.flush(); // the aborted records are in the log, not just in the client
                    p.abortTransaction();
                } else {
                    p.commitTransaction();
                }
            }
        }
        say("produced 15 transactions: 100 records committed, 50 aborted (flushed first)");
        Map<Integer, List<String>> rc = readAll(topic, "read_committed", 100);
        check(rc.equals(committed), "read_committed read " + count(rc) + " records, not exactly the 100 committed ones in order per partition: "
            + diff(committed, rc));
        say("read_committed: exactly the 100 committed records, in order per partition");
        Map<Integer, List<String>> ru = readAll(topic, "read_uncommitted", 150);
        check(ru.equals(all), "read_uncommitted read " + count(ru) + " records, not all 150 in order per partition: " + diff(all, ru));
        say("read_uncommitted: all 150 records, in order per partition");
        return "read_committed saw the 100 committed records, read_uncommitted all 150, in order per partition";
    }

    static String diff(Map<Integer, List<String>> want, Map<Integer, List<String>> got) {
        StringBuilder sb = new StringBuilder();
        for (int p = 0; p < 3; p++) {
            List<String> w = want.getOrDefault(p, List.of()), g = got.getOrDefault(p, List.of());
            if (w.equals(g)) continue;
            int i = 0;
            while (i < w.size() && i < g.size() && w.get(i).equals(g.get(i))) i++;
            sb.append(String.format("partition %d: want %d got %d, first difference at %d (want %s, got %s); ",
                p, w.size(), g.size(), i, i < w.size() ? w.get(i) : "-", i < g.size() ? g.get(i) : "-"));
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- (b)
    static String chain(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (sb.length() > 0) sb.append(" <- ");
            sb.append(t.getClass().getName());
        }
        return sb.toString();
    }

    static final String EPOCH = "org.apache.kafka.common.errors.InvalidProducerEpochException";

    /**
     * A (transactional.id txn-fence) begins a transaction and sends a record; B with the
     * same id calls initTransactions, which fences A and aborts its transaction; A's next
     * send and its commit fail as they do with Kafka 4.3.1: InvalidProducerEpochException
     * (not ProducerFencedException: the partition refuses A's old epoch before A hears
     * from the coordinator); B commits.
     */
    static String fencing(String topic) throws Exception {
        String sendError = "none", commitError = "none";
        try (KafkaProducer<String, String> a = producer("txn-fence")) {
            a.initTransactions();
            a.beginTransaction();
            a.send(new ProducerRecord<>(topic, 0, "a", "a-1")).get();
            say("A: began a transaction, a-1 written");
            try (KafkaProducer<String, String> b = producer("txn-fence")) {
                b.initTransactions();
                say("B: initTransactions with the same transactional.id returned");
                try {
                    a.send(new ProducerRecord<>(topic, 0, "a", "a-2")).get();
                } catch (Exception e) {
                    sendError = chain(e);
                }
                // Kafka 4.3.1: the produce request with A's old epoch is refused with
                // INVALID_PRODUCER_EPOCH, which the client reports as it is
                check(sendError.endsWith("<- " + EPOCH), "A's send after B's initTransactions: " + sendError + ", not " + EPOCH + " (as Kafka)");
                say("A: send after B's initTransactions: " + sendError);
                try {
                    a.commitTransaction();
                    throw new Fail("A's commitTransaction succeeded after B's initTransactions (A's send: " + sendError + ")");
                } catch (Fail f) {
                    throw f;
                } catch (Exception e) {
                    commitError = chain(e);
                    check(commitError.equals(EPOCH), "A's commitTransaction failed with " + commitError + ", not " + EPOCH + " (as Kafka)");
                }
                say("A: commitTransaction: " + commitError);
                b.beginTransaction();
                b.send(new ProducerRecord<>(topic, 0, "b", "b-1"));
                b.commitTransaction();
                say("B: committed b-1");
            }
        }
        Map<Integer, List<String>> rc = readAll(topic, "read_committed", 1);
        check(rc.equals(Map.of(0, List.of("b-1"))), "read_committed read " + rc + ", not just [b-1]");
        Map<Integer, List<String>> ru = readAll(topic, "read_uncommitted", 2);
        check(ru.get(0) != null && ru.get(0).contains("a-1") && ru.get(0).contains("b-1") && !ru.get(0).contains("a-2"),
            "read_uncommitted read " + ru + ", not a-1 and b-1 (and never a-2)");
        say("read_committed: [b-1]; read_uncommitted: " + ru.get(0));
        return "A fenced by B (send: " + sendError + "; commit: " + commitError + "); B committed; read_committed sees only b-1";
    }

    // ---------------------------------------------------------------- (c)
    /**
     * The group's committed offset, once it is stable: with requireStable, Kafka answers
     * UNSTABLE_OFFSET_COMMIT for a partition while a transaction's offset commit is
     * pending, which lasts a moment after commitTransaction/abortTransaction returned (the
     * markers are written after EndTxn's answer), and the Admin client then leaves the
     * partition out. Asks again every 100 ms, for 15 s at most (then -1).
     */
    static long committedOffset(Admin admin, String group, TopicPartition tp) throws Exception {
        ListConsumerGroupOffsetsOptions opts = new ListConsumerGroupOffsetsOptions().requireStable(true);
        long deadline = System.currentTimeMillis() + 15_000;
        int asked = 0;
        while (true) {
            asked++;
            Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(group, opts)
                .partitionsToOffsetAndMetadata().get();
            OffsetAndMetadata o = m.get(tp);
            if (o != null) {
                if (asked > 1) say("(the committed offset was unstable for " + (asked - 1) + " request(s))");
                return o.offset();
            }
            if (System.currentTimeMillis() > deadline) return -1;
            Thread.sleep(100);
        }
    }

    /**
     * 20 records in IN (1 partition). A group consumer (read_committed, max.poll.records 5)
     * and a transactional producer: each transaction sends the polled records upper-cased
     * to OUT and the offsets after them with sendOffsetsToTransaction. Transaction 1
     * commits; transaction 2 aborts (the group's committed offset must not move) and the
     * consumer seeks back to it; transactions 3.. commit until every input is processed.
     * Then OUT read_committed must be every input upper-cased, once, in order.
     */
    static String ctp(String in, String out, String group) throws Exception {
        TopicPartition tp = new TopicPartition(in, 0);
        List<String> inputs = new ArrayList<>();
        try (KafkaProducer<String, String> plain = producer(null)) {
            for (int i = 0; i < 20; i++) {
                String v = "word-" + i;
                inputs.add(v);
                plain.send(new ProducerRecord<>(in, 0, "k" + i, v));
            }
            plain.flush();
        }
        say("20 records in " + in);
        List<String> trail = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer("read_committed", group, StringDeserializer.class);
             KafkaProducer<String, String> p = producer("txn-ctp");
             Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            p.initTransactions();
            c.subscribe(List.of(in));
            long committed = -1;
            int txn = 0;
            long deadline = System.currentTimeMillis() + 60_000;
            while (committed < 20) {
                check(System.currentTimeMillis() < deadline, "the group did not get through the 20 inputs within 60 s (committed offset " + committed + ")");
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(500));
                if (recs.isEmpty()) continue;
                txn++;
                boolean abort = txn == 2;
                p.beginTransaction();
                long next = -1;
                for (ConsumerRecord<String, String> r : recs) {
                    p.send(new ProducerRecord<>(out, 0, r.key(), r.value().toUpperCase()));
                    next = r.offset() + 1;
                }
                p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(next)), c.groupMetadata());
                if (abort) {
                    p.flush();
                    p.abortTransaction();
                    long after = committedOffset(admin, group, tp);
                    check(after == committed, "after an aborted transaction (offsets up to " + next + ") the group's committed offset is "
                        + after + ", not " + committed + " as before it");
                    trail.add("abort(" + next + ")->" + after);
                    say("transaction " + txn + ": " + recs.count() + " records, offset " + next + " sent, aborted; committed offset still " + after);
                    c.seek(tp, committed < 0 ? 0 : committed);
                } else {
                    p.commitTransaction();
                    long after = committedOffset(admin, group, tp);
                    check(after == next, "after a committed transaction with offset " + next + " the group's committed offset is " + after);
                    trail.add("commit(" + next + ")->" + after);
                    say("transaction " + txn + ": " + recs.count() + " records, offset " + next + " committed; committed offset now " + after);
                    committed = after;
                }
            }
            check(txn >= 3, "only " + txn + " transactions: no abort was tested");
        }
        List<String> want = inputs.stream().map(String::toUpperCase).collect(Collectors.toList());
        Map<Integer, List<String>> rc = readAll(out, "read_committed", 20);
        check(want.equals(rc.get(0)), "read_committed of " + out + ": " + rc.get(0) + ", not each input upper-cased once, in order");
        say("read_committed of " + out + ": the 20 inputs upper-cased, each once, in order");
        return "committed offsets " + String.join(", ", trail) + "; the output has each input once";
    }

    // ---------------------------------------------------------------- (d)
    /** Begins a transaction with a record in TOPIC-0, prints READY, commits once FILE exists. */
    static String holdOpen(String topic, String id, String file) throws Exception {
        try (KafkaProducer<String, String> p = producer(id)) {
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "open")).get();
            System.out.println("READY");
            System.out.flush();
            long deadline = System.currentTimeMillis() + 90_000;
            while (!Files.exists(Path.of(file))) {
                check(System.currentTimeMillis() < deadline, FILE_WAIT);
                Thread.sleep(100);
            }
            p.commitTransaction();
        }
        return "held a transaction open, then committed it";
    }

    static final String FILE_WAIT = "the release file did not appear within 90 s";

    // ---------------------------------------------------------------- fixtures
    static String createTopics(String[] specs) throws Exception {
        List<org.apache.kafka.clients.admin.NewTopic> topics = new ArrayList<>();
        for (String spec : specs) {
            String[] f = spec.split(":");
            topics.add(new org.apache.kafka.clients.admin.NewTopic(f[0], Integer.parseInt(f[1]), (short) 1));
        }
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            admin.createTopics(topics).all().get();
        }
        return "created " + String.join(", ", specs);
    }

    // ---------------------------------------------------------------- word count
    static String produceLines(String topic, String file) throws Exception {
        List<String> lines = Files.readAllLines(Path.of(file), StandardCharsets.UTF_8);
        try (KafkaProducer<String, String> p = producer(null)) {
            for (String l : lines) p.send(new ProducerRecord<>(topic, null, l));
            p.flush();
        }
        return lines.size() + " lines produced to " + topic;
    }

    /**
     * Reads TOPIC read_committed until a record comes (OK) or SECONDS pass (FAIL), or the
     * process APP_PID (the application, if given) has exited (FAIL).
     */
    static String waitCommitted(String topic, int seconds, long appPid) {
        try (KafkaConsumer<String, Long> c = consumer("read_committed", null, LongDeserializer.class)) {
            List<TopicPartition> tps = partitions(c, topic);
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + seconds * 1000L;
            while (System.currentTimeMillis() < deadline) {
                if (appPid > 0 && !ProcessHandle.of(appPid).map(ProcessHandle::isAlive).orElse(false))
                    throw new Fail("the application (pid " + appPid + ") exited before any committed record in " + topic);
                for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(200)))
                    return "committed output: " + r.key() + "=" + r.value() + " at " + r.topic() + "-" + r.partition() + "@" + r.offset();
            }
        }
        throw new Fail("no committed record in " + topic + " within " + seconds + " s");
    }

    /**
     * Reads TOPIC (String keys, Long values) read_committed until the last value of every
     * key equals FILE's counts (`word count` lines): OK. A value above the expected count
     * (something counted twice) fails at once; not there after SECONDS: FAIL with the
     * differences.
     */
    static String waitCounts(String topic, String file, int seconds) throws Exception {
        Map<String, Long> want = new HashMap<>();
        for (String l : Files.readAllLines(Path.of(file), StandardCharsets.UTF_8)) {
            String[] f = l.trim().split(" ");
            if (f.length == 2) want.put(f[0], Long.parseLong(f[1]));
        }
        Map<String, Long> got = new HashMap<>();
        long records = 0;
        try (KafkaConsumer<String, Long> c = consumer("read_committed", null, LongDeserializer.class)) {
            List<TopicPartition> tps = partitions(c, topic);
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + seconds * 1000L;
            while (!got.equals(want)) {
                if (System.currentTimeMillis() > deadline) {
                    List<String> d = new ArrayList<>();
                    for (String w : new java.util.TreeSet<>(want.keySet()))
                        if (!want.get(w).equals(got.get(w))) d.add(w + " want " + want.get(w) + " got " + got.get(w));
                    for (String w : got.keySet()) if (!want.containsKey(w)) d.add(w + " not expected, got " + got.get(w));
                    throw new Fail("after " + seconds + " s (" + records + " output records) " + d.size() + " word(s) differ: "
                        + String.join("; ", d.subList(0, Math.min(10, d.size()))));
                }
                for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(500))) {
                    records++;
                    Long w = want.get(r.key());
                    check(w != null && r.value() <= w, "output " + r.key() + "=" + r.value() + " at " + r.topic() + "-" + r.partition()
                        + "@" + r.offset() + " but the input has it " + w + " times: counted twice (exactly-once broken)");
                    got.put(r.key(), r.value());
                }
            }
        }
        long total = want.values().stream().mapToLong(Long::longValue).sum();
        return "the final count of every word (" + want.size() + " words, " + total + " in all) is exact (" + records + " committed output records)";
    }

    public static void main(String[] args) {
        String result;
        try {
            bootstrap = args[1];
            switch (args[0]) {
                case "commit-abort": result = commitAbort(args[2]); break;
                case "fencing": result = fencing(args[2]); break;
                case "ctp": result = ctp(args[2], args[3], args[4]); break;
                case "hold-open": result = holdOpen(args[2], args[3], args[4]); break;
                case "create-topics": result = createTopics(java.util.Arrays.copyOfRange(args, 2, args.length)); break;
                case "produce-lines": result = produceLines(args[2], args[3]); break;
                case "wait-committed":
                    result = waitCommitted(args[2], Integer.parseInt(args[3]), args.length > 4 ? Long.parseLong(args[4]) : 0);
                    break;
                case "wait-counts": result = waitCounts(args[2], args[3], Integer.parseInt(args[4])); break;
                default: throw new Fail("unknown scenario " + args[0]);
            }
        } catch (Fail f) {
            System.out.println("FAIL: " + f.getMessage());
            System.exit(1);
            return;
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            System.out.println("FAIL: " + chain(t) + ": " + t.getMessage());
            System.exit(1);
            return;
        }
        System.out.println("OK: " + result);
        System.exit(0);
    }
}
