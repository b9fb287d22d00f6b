// KIP-848 consumer groups with Kafka's Java client (kafka-clients 4.x,
// group.protocol=consumer), run against Rafka and Apache Kafka by compat-tests/groups.sh
// and bench/rebalance.sh. Every step prints one summary line and exits 0, or prints
// "FAIL: why" and exits 1.
//
//   GroupScenarios scale BOOTSTRAP TOPIC GROUP
//   GroupScenarios crash BOOTSTRAP TOPIC GROUP CLASSPATH
//   GroupScenarios member BOOTSTRAP TOPIC GROUP           (the member `crash` kills)
//   GroupScenarios regex BOOTSTRAP PREFIX GROUP
//   GroupScenarios switch BOOTSTRAP TOPIC GROUP
//   GroupScenarios migrate BOOTSTRAP TOPIC GROUP
//   GroupScenarios rebalance BOOTSTRAP TOPIC GROUP MEMBERS PROTOCOL   (prints ms)

import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import java.util.function.BooleanSupplier;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

public class GroupScenarios {
    static String bootstrap;

    static void fail(String why) {
        System.out.println("FAIL: " + why);
        System.out.flush();
        System.exit(1);
    }

    static void check(boolean ok, String why) {
        if (!ok) fail(why);
    }

    static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return Admin.create(p);
    }

    static void createTopic(String topic, int partitions) throws Exception {
        try (Admin a = admin()) {
            a.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    static void produce(String topic, int partitions, String tag, int perPartition) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(p)) {
            for (int part = 0; part < partitions; part++)
                for (int i = 0; i < perPartition; i++)
                    prod.send(new ProducerRecord<>(topic, part, null, tag + "-p" + part + "-" + i)).get();
        }
    }

    static Set<String> tagged(int partitions, String tag, int perPartition) {
        Set<String> s = new TreeSet<>();
        for (int part = 0; part < partitions; part++)
            for (int i = 0; i < perPartition; i++) s.add(tag + "-p" + part + "-" + i);
        return s;
    }

    static Properties consumerProps(String group, String protocol, String clientId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, "1000");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        if (protocol.equals("classic")) {
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        }
        return p;
    }

    /**
     * A consumer on its own thread: polls, records every value with its partition,
     * commits synchronously after each poll and before giving partitions up, so no record
     * is read twice across a handover.
     */
    static class Member implements Runnable {
        final KafkaConsumer<String, String> c;
        final List<String> got = Collections.synchronizedList(new ArrayList<>());
        final AtomicReference<Set<TopicPartition>> owned = new AtomicReference<>(Set.of());
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final Thread thread;
        final Object subscription;

        Member(String group, String protocol, String clientId, Object subscription) {
            c = new KafkaConsumer<>(consumerProps(group, protocol, clientId));
            this.subscription = subscription;
            thread = new Thread(this, clientId);
            thread.setDaemon(true);
            thread.start();
        }

        public void run() {
            ConsumerRebalanceListener l = new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                    c.commitSync();
                    Set<TopicPartition> s = new HashSet<>(owned.get());
                    s.removeAll(ps);
                    owned.set(s);
                }
                public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                    Set<TopicPartition> s = new HashSet<>(owned.get());
                    s.addAll(ps);
                    owned.set(s);
                }
                public void onPartitionsLost(Collection<TopicPartition> ps) {
                    Set<TopicPartition> s = new HashSet<>(owned.get());
                    s.removeAll(ps);
                    owned.set(s);
                }
            };
            try {
                if (subscription instanceof SubscriptionPattern) c.subscribe((SubscriptionPattern) subscription, l);
                else if (subscription instanceof Pattern) c.subscribe((Pattern) subscription, l);
                else c.subscribe(List.of((String) subscription), l);
                while (!stop.get()) {
                    ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(100));
                    for (ConsumerRecord<String, String> r : rs) got.add(r.value());
                    if (!rs.isEmpty()) c.commitSync();
                }
                c.close(Duration.ofSeconds(30));
            } catch (Throwable t) {
                error.set(t);
            }
        }

        int count() { return owned.get().size(); }

        void close() throws InterruptedException {
            stop.set(true);
            thread.join(40_000);
            check(!thread.isAlive(), "a consumer did not close in 40 s");
        }
    }

    static void waitFor(int secs, String what, BooleanSupplier done, List<Member> ms) throws Exception {
        long deadline = System.nanoTime() + secs * 1_000_000_000L;
        while (!done.getAsBoolean()) {
            for (Member m : ms)
                if (m.error.get() != null) fail(what + ": a consumer failed: " + m.error.get());
            if (System.nanoTime() > deadline) {
                StringBuilder s = new StringBuilder();
                for (Member m : ms) s.append(' ').append(m.count());
                fail(what + " within " + secs + " s (partitions owned:" + s + ")");
            }
            Thread.sleep(50);
        }
    }

    static Set<String> allGot(List<Member> ms) {
        Set<String> s = new TreeSet<>();
        for (Member m : ms) synchronized (m.got) { s.addAll(m.got); }
        return s;
    }

    static int totalGot(List<Member> ms) {
        int n = 0;
        for (Member m : ms) n += m.got.size();
        return n;
    }

    static void exactlyOnce(List<Member> ms, Set<String> want) {
        Set<String> got = allGot(ms);
        check(got.containsAll(want), "missing " + (want.size() - got.size()) + " of " + want.size() + " records");
        check(totalGot(ms) == want.size(), "read " + totalGot(ms) + " records for " + want.size() + ": some twice");
    }

    // scale: one member reads; three more join (1 -> 4, each owns one or two of six
    // partitions); three leave (4 -> 1, it owns all six again); every record once
    static void scale(String topic, String group) throws Exception {
        createTopic(topic, 6);
        List<Member> ms = new ArrayList<>();
        Set<String> want = new TreeSet<>();
        produce(topic, 6, "a", 5);
        want.addAll(tagged(6, "a", 5));
        ms.add(new Member(group, "consumer", "m0", topic));
        waitFor(60, "one member reads everything", () -> allGot(ms).containsAll(want), ms);
        check(ms.get(0).count() == 6, "the only member owns " + ms.get(0).count() + " partitions");
        for (int i = 1; i <= 3; i++) ms.add(new Member(group, "consumer", "m" + i, topic));
        waitFor(60, "four members share six partitions", () -> {
            int total = 0;
            for (Member m : ms) {
                if (m.count() < 1 || m.count() > 2) return false;
                total += m.count();
            }
            return total == 6;
        }, ms);
        produce(topic, 6, "b", 5);
        want.addAll(tagged(6, "b", 5));
        waitFor(60, "four members read the second batch", () -> allGot(ms).containsAll(want), ms);
        for (int i = 1; i <= 3; i++) ms.get(i).close();
        waitFor(60, "the last member owns all six again", () -> ms.get(0).count() == 6, ms);
        produce(topic, 6, "c", 5);
        want.addAll(tagged(6, "c", 5));
        waitFor(60, "the last member reads the third batch", () -> allGot(ms).containsAll(want), ms);
        Thread.sleep(500);
        ms.get(0).close();
        exactlyOnce(ms, want);
        System.out.println("OK: 1 -> 4 -> 1 members over 6 partitions, " + want.size() + " records each read once");
    }

    // member: runs until killed (for crash)
    static void member(String topic, String group) throws Exception {
        Member m = new Member(group, "consumer", "crashing", topic);
        while (true) {
            System.out.println("OWNS " + m.count());
            System.out.flush();
            if (m.error.get() != null) fail("member: " + m.error.get());
            Thread.sleep(100);
        }
    }

    // crash: a member in another JVM shares the topic with this one, and is killed with
    // SIGKILL (no leave): once its session expires this one owns every partition and
    // reads what the dead one had not committed
    static void crash(String topic, String group, String classpath) throws Exception {
        createTopic(topic, 4);
        produce(topic, 4, "a", 5);
        Set<String> want = new TreeSet<>(tagged(4, "a", 5));
        List<Member> ms = new ArrayList<>();
        ms.add(new Member(group, "consumer", "survivor", topic));
        waitFor(60, "the survivor reads everything", () -> allGot(ms).containsAll(want), ms);
        ProcessBuilder pb = new ProcessBuilder("java", "-Xmx128m", "-XX:TieredStopAtLevel=1",
            "-Dlog4j2.configurationFile=" + System.getProperty("log4j2.configurationFile", ""),
            "-Dcompat.log.level=WARN", "-cp", classpath, "GroupScenarios", "member", bootstrap, topic, group);
        pb.redirectErrorStream(true);
        Process other = pb.start();
        BufferedReaderThread out = new BufferedReaderThread(other);
        waitFor(60, "the second member gets two partitions", () -> out.last.get() == 2 && ms.get(0).count() == 2, ms);
        other.destroyForcibly();
        other.waitFor(10, TimeUnit.SECONDS);
        long killed = System.nanoTime();
        produce(topic, 4, "b", 5);
        want.addAll(tagged(4, "b", 5));
        waitFor(120, "the survivor takes the dead member's partitions", () -> ms.get(0).count() == 4, ms);
        long tookMs = (System.nanoTime() - killed) / 1_000_000;
        waitFor(60, "the survivor reads the second batch", () -> allGot(ms).containsAll(want), ms);
        ms.get(0).close();
        Set<String> got = allGot(ms);
        check(got.containsAll(want), "missing records");
        System.out.println("OK: a member killed with SIGKILL was fenced after " + (tookMs / 1000)
            + " s; the survivor owns all 4 partitions and read all " + want.size() + " records");
    }

    static class BufferedReaderThread extends Thread {
        final AtomicInteger last = new AtomicInteger(-1);
        final java.io.BufferedReader r;

        BufferedReaderThread(Process p) {
            r = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
            setDaemon(true);
            start();
        }

        public void run() {
            try {
                String line;
                while ((line = r.readLine()) != null)
                    if (line.startsWith("OWNS ")) last.set(Integer.parseInt(line.substring(5).trim()));
            } catch (Exception e) {
                // the process died
            }
        }
    }

    // regex: a broker-side pattern subscription (SubscriptionPattern, RE2/J: the
    // coordinator resolves it) reads the matching topic, then a matching topic created
    // after it joined, never the one that does not match
    static void regex(String prefix, String group) throws Exception {
        createTopic(prefix + "-one", 2);
        createTopic(prefix + "x-other", 1);
        produce(prefix + "-one", 2, "one", 3);
        produce(prefix + "x-other", 1, "other", 3);
        Set<String> want = new TreeSet<>(tagged(2, "one", 3));
        List<Member> ms = new ArrayList<>();
        ms.add(new Member(group, "consumer", "re", new SubscriptionPattern(prefix + "-.*")));
        waitFor(60, "the pattern's first topic is read", () -> allGot(ms).containsAll(want), ms);
        createTopic(prefix + "-two", 3);
        produce(prefix + "-two", 3, "two", 3);
        want.addAll(tagged(3, "two", 3));
        waitFor(60, "a topic created later is read", () -> allGot(ms).containsAll(want), ms);
        waitFor(30, "it owns 5 partitions", () -> ms.get(0).count() == 5, ms);
        Thread.sleep(500);
        ms.get(0).close();
        Set<String> got = allGot(ms);
        check(got.equals(want), "read " + got.size() + " records, " + want.size() + " expected (a topic that does not match?)");
        System.out.println("OK: the pattern read both matching topics (the second created after the join), "
            + want.size() + " records, and not the other one");
    }

    // switch: a classic consumer commits, closes; a consumer-protocol one resumes at its
    // offsets; closes; a classic one resumes at those: the group changes protocol while
    // empty, its offsets shared
    static void switchProtocol(String topic, String group) throws Exception {
        createTopic(topic, 2);
        Set<String> want = new TreeSet<>();
        List<Member> all = new ArrayList<>();
        String[] protocols = {"classic", "consumer", "classic"};
        for (int round = 0; round < 3; round++) {
            String tag = "r" + round;
            produce(topic, 2, tag, 5);
            want.addAll(tagged(2, tag, 5));
            List<Member> ms = List.of(new Member(group, protocols[round], tag, topic));
            all.addAll(ms);
            waitFor(60, protocols[round] + " member " + round + " reads its batch", () -> allGot(all).containsAll(want), ms);
            Thread.sleep(300);
            ms.get(0).close();
        }
        exactlyOnce(all, want);
        try (Admin a = admin()) {
            ConsumerGroupDescription d = a.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
            check(d.members().isEmpty(), "the group still has members");
        }
        System.out.println("OK: classic -> consumer -> classic on one group, each resuming at the other's offsets: "
            + want.size() + " records each read once");
    }

    static String groupType(String group) throws Exception {
        try (Admin a = admin()) {
            return a.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group).type().toString();
        }
    }

    // migrate: two classic members (cooperative-sticky) share four partitions; a
    // consumer-protocol member joins, so the group becomes a consumer group online with
    // the classic members still in it (KIP-848's upgrade) and the three share the
    // partitions; it leaves, so the group is classic again (the downgrade) and the two
    // share them again; records produced at each stage each read exactly once
    static void migrate(String topic, String group) throws Exception {
        createTopic(topic, 4);
        List<Member> ms = new ArrayList<>();
        Set<String> want = new TreeSet<>();
        ms.add(new Member(group, "classic", "classic-a", topic));
        ms.add(new Member(group, "classic", "classic-b", topic));
        waitFor(60, "two classic members split 2+2", () -> ms.get(0).count() == 2 && ms.get(1).count() == 2, ms);
        produce(topic, 4, "a", 5);
        want.addAll(tagged(4, "a", 5));
        waitFor(60, "the classic members read the first batch", () -> allGot(ms).containsAll(want), ms);
        check(groupType(group).equals("Classic"), "before the upgrade the group is " + groupType(group));

        ms.add(new Member(group, "consumer", "consumer-c", topic));
        waitFor(90, "three members (two classic, one consumer) share four partitions", () -> {
            int total = 0;
            for (Member m : ms) {
                if (m.count() < 1) return false;
                total += m.count();
            }
            return total == 4;
        }, ms);
        String mixed = groupType(group);
        check(mixed.equals("Consumer"), "with the consumer member the group is " + mixed);
        produce(topic, 4, "b", 5);
        want.addAll(tagged(4, "b", 5));
        waitFor(60, "the mixed group reads the second batch", () -> allGot(ms).containsAll(want), ms);

        ms.get(2).close();
        waitFor(90, "the two classic members own all four again", () -> ms.get(0).count() + ms.get(1).count() == 4
            && ms.get(0).count() >= 1 && ms.get(1).count() >= 1, ms);
        String after = groupType(group);
        check(after.equals("Classic"), "after the consumer member left the group is " + after);
        produce(topic, 4, "c", 5);
        want.addAll(tagged(4, "c", 5));
        waitFor(60, "the classic group reads the third batch", () -> allGot(ms).containsAll(want), ms);
        Thread.sleep(500);
        ms.get(0).close();
        ms.get(1).close();
        exactlyOnce(ms, want);
        System.out.println("OK: classic 2 members -> consumer group with 2 classic + 1 consumer member -> classic again, "
            + "online; " + want.size() + " records each read once");
    }

    // rebalance: MEMBERS consumers join at once; the time until every partition of the
    // topic is owned by exactly one of them and each owns some (a stable assignment)
    static void rebalance(String topic, String group, int members, String protocol) throws Exception {
        int partitions = Math.max(members * 2, 2);
        createTopic(topic, partitions);
        List<Member> ms = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < members; i++) ms.add(new Member(group, protocol, "b" + i, topic));
        waitFor(180, members + " members assigned", () -> {
            int total = 0;
            for (Member m : ms) {
                if (m.count() == 0) return false;
                total += m.count();
            }
            return total == partitions;
        }, ms);
        long tookMs = (System.nanoTime() - start) / 1_000_000;
        for (Member m : ms) m.stop.set(true);
        for (Member m : ms) m.thread.join(40_000);
        System.out.println(tookMs);
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[1];
        switch (args[0]) {
            case "scale" -> scale(args[2], args[3]);
            case "crash" -> crash(args[2], args[3], args[4]);
            case "member" -> member(args[2], args[3]);
            case "regex" -> regex(args[2], args[3]);
            case "switch" -> switchProtocol(args[2], args[3]);
            case "migrate" -> migrate(args[2], args[3]);
            case "rebalance" -> rebalance(args[2], args[3], Integer.parseInt(args[4]), args[5]);
            default -> fail("unknown step " + args[0]);
        }
        System.exit(0);
    }
}
