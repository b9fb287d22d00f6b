// The Kafka Streams application of compat-tests/transactions.sh: a word count with
// processing.guarantee=exactly_once_v2.
//
//   java WordCount BOOTSTRAP INPUT OUTPUT STATE_DIR THROTTLE_MICROS
//
// Lines (null key, String value) from INPUT are split on spaces, grouped by word
// (through a repartition topic) and counted in a RocksDB store with a changelog; the
// counts go to OUTPUT (String word -> Long count) when the record cache is flushed, at
// each commit. commit.interval.ms=100, so a transaction commits about ten times a second. Every record of INPUT sleeps
// THROTTLE_MICROS first, so that the script can kill -9 the JVM while it is in the
// middle of the input. Prints `processed N` every 1000 input lines and `RUNNING` when
// the application gets to the RUNNING state; runs until killed (SIGTERM closes it).
import java.time.Duration;
import java.util.Arrays;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;

public class WordCount {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], input = args[1], output = args[2], stateDir = args[3];
        long throttleMicros = Long.parseLong(args[4]);

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "txn-wordcount");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // -Dwordcount.guarantee=at_least_once shows that the check catches double counts
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
            System.getProperty("wordcount.guarantee", StreamsConfig.EXACTLY_ONCE_V2));
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
        p.put(StreamsConfig.consumerPrefix("max.poll.records"), 200);
        // a member killed with -9 leaves the group after 6 s (Kafka's minimum), not 45
        p.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 6000);
        p.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1500);
        // records reach the broker within 5 ms, not at the commit (Streams' linger.ms is
        // 100): what a crash leaves behind is then records written but not committed, which
        // only transactions keep out of the counts (at_least_once counts them twice)
        p.put(StreamsConfig.producerPrefix("linger.ms"), 5);
        // small fetches: else the first fetch buffers most of the input topic, and the
        // repartition topic's records (so the counts) wait behind all of it
        p.put(StreamsConfig.mainConsumerPrefix("max.partition.fetch.bytes"), 8192);

        AtomicLong processed = new AtomicLong();
        long t0 = System.nanoTime();
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, String> lines = b.stream(input, Consumed.with(Serdes.String(), Serdes.String()));
        lines.peek((k, v) -> {
                if (throttleMicros > 0) {
                    try {
                        Thread.sleep(throttleMicros / 1000, (int) (throttleMicros % 1000) * 1000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                long n = processed.incrementAndGet();
                if (n % 1000 == 0) {
                    System.out.println("processed " + n + " after " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                    System.out.flush();
                }
            })
            .flatMapValues(v -> Arrays.asList(v.split(" ")))
            .filter((k, w) -> !w.isEmpty())
            .groupBy((k, w) -> w, Grouped.with("words", Serdes.String(), Serdes.String()))
            .count()
            .toStream()
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        CountDownLatch closed = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            System.out.println("state " + before + " -> " + now);
            if (now == KafkaStreams.State.RUNNING) System.out.println("RUNNING");
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) closed.countDown();
            System.out.flush();
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.out.println("uncaught: " + e);
            e.printStackTrace(System.out);
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(20))));
        streams.start();
        closed.await();
        System.out.println("stopped");
    }
}
