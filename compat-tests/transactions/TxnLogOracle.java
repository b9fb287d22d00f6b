// The oracle for src/txn/records.rs: Kafka's own classes serialize a few records of
// __transaction_state and this prints them as hex, one `name hex` line each. The
// expected bytes in the Rust unit tests were pasted from its output. Rerun with:
//
//   javac -d /tmp/txnlog -cp '/work/cache/kafka-libs/*' compat-tests/transactions/TxnLogOracle.java
//   java -cp "/tmp/txnlog:/work/cache/kafka-libs/*" TxnLogOracle
//
// (any directory holding Kafka 4.3.1's jars works in place of /work/cache/kafka-libs,
// e.g. compat-tests/.work/kafka-libs after compat-tests/setup.sh).
import java.util.HashSet;
import java.util.List;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.protocol.MessageUtil;
import org.apache.kafka.common.protocol.types.RawTaggedField;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.coordinator.transaction.TransactionLog;
import org.apache.kafka.coordinator.transaction.TransactionState;
import org.apache.kafka.coordinator.transaction.TxnTransitMetadata;
import org.apache.kafka.coordinator.transaction.generated.TransactionLogValue;
import org.apache.kafka.server.common.TransactionVersion;

public class TxnLogOracle {
    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x));
        return sb.toString();
    }

    static HashSet<TopicPartition> tps(Object... topicAndPartitions) {
        HashSet<TopicPartition> out = new HashSet<>();
        for (int i = 0; i < topicAndPartitions.length; i += 2)
            out.add(new TopicPartition((String) topicAndPartitions[i], (Integer) topicAndPartitions[i + 1]));
        return out;
    }

    // the way the coordinator writes a value: TransactionLog.valueToBytes with the
    // cluster's finalized transaction.version (clusterTv)
    static void value(String name, TransactionVersion clusterTv, long pid, long prevPid, long nextPid,
                      short epoch, int timeout, TransactionState state, HashSet<TopicPartition> parts,
                      long start, long lastUpdate, TransactionVersion clientTv) {
        TxnTransitMetadata m = new TxnTransitMetadata(pid, prevPid, nextPid, epoch, (short) -1, timeout,
            state, parts, start, lastUpdate, clientTv);
        System.out.println(name + " " + hex(TransactionLog.valueToBytes(m, clusterTv)));
    }

    public static void main(String[] args) {
        System.out.println("key_my_txn " + hex(TransactionLog.keyToBytes("my-txn")));
        System.out.println("key_empty " + hex(TransactionLog.keyToBytes("")));

        // cluster at transaction.version 2 (Kafka 4.x's default): value version 1
        value("v1_empty", TransactionVersion.TV_2, 1000L, -1L, -1L, (short) 0, 60000,
            TransactionState.EMPTY, tps(), -1L, 1700000000000L, TransactionVersion.TV_0);
        value("v1_ongoing_2_topics", TransactionVersion.TV_2, 1000L, -1L, -1L, (short) 3, 60000,
            TransactionState.ONGOING, tps("orders", 0, "orders", 2, "payments", 1),
            1700000000100L, 1700000000200L, TransactionVersion.TV_2);
        value("v1_prepare_commit", TransactionVersion.TV_2, 1000L, 999L, 1001L, (short) 4, 30000,
            TransactionState.PREPARE_COMMIT, tps("orders", 1), 1700000000300L, 1700000000400L,
            TransactionVersion.TV_2);
        value("v1_complete_abort", TransactionVersion.TV_2, 42L, -1L, -1L, (short) 7, 15000,
            TransactionState.COMPLETE_ABORT, tps("t", 0), 1700000000500L, 1700000000600L,
            TransactionVersion.TV_0);

        // cluster at transaction.version 0: value version 0 (no tagged fields)
        value("v0_empty", TransactionVersion.TV_0, 1000L, -1L, -1L, (short) 0, 60000,
            TransactionState.EMPTY, tps(), -1L, 1700000000000L, TransactionVersion.TV_0);
        value("v0_ongoing_2_topics", TransactionVersion.TV_0, 1000L, -1L, -1L, (short) 3, 60000,
            TransactionState.ONGOING, tps("orders", 0, "orders", 2, "payments", 1),
            1700000000100L, 1700000000200L, TransactionVersion.TV_0);
        value("v0_complete_commit", TransactionVersion.TV_0, 5L, -1L, -1L, (short) 1, 60000,
            TransactionState.COMPLETE_COMMIT, tps("a", 0), 1700000000700L, 1700000000800L,
            TransactionVersion.TV_0);
        // a client transaction version other than 0 cannot be written at value version 0
        try {
            value("v0_client_tv2", TransactionVersion.TV_0, 5L, -1L, -1L, (short) 1, 60000,
                TransactionState.EMPTY, tps(), -1L, 0L, TransactionVersion.TV_2);
        } catch (RuntimeException e) {
            System.out.println("v0_client_tv2 " + e.getClass().getSimpleName());
        }

        // the generated class directly: every tagged field Kafka's schema has (NextProducerEpoch,
        // tag 3, is in the schema but 4.3.1's coordinator never sets it) plus an unknown tag 9
        TransactionLogValue all = new TransactionLogValue()
            .setProducerId(7L).setPreviousProducerId(6L).setNextProducerId(8L)
            .setProducerEpoch((short) 32767).setNextProducerEpoch((short) 0)
            .setTransactionTimeoutMs(900000).setTransactionStatus(TransactionState.PREPARE_EPOCH_FENCE.id())
            .setTransactionPartitions(List.of(new TransactionLogValue.PartitionsSchema()
                .setTopic("x").setPartitionIds(List.of(3))))
            .setTransactionLastUpdateTimestampMs(2L).setTransactionStartTimestampMs(1L)
            .setClientTransactionVersion((short) 2);
        all.unknownTaggedFields().add(new RawTaggedField(9, new byte[] {1, 2, 3}));
        System.out.println("v1_all_tags_and_unknown " + hex(MessageUtil.toVersionPrefixedBytes((short) 1, all)));

        // the transaction states' ids and the names DescribeTransactions/ListTransactions report
        for (TransactionState s : TransactionState.values())
            System.out.println("state " + s.id() + " " + s.stateName());

        // the partition of __transaction_state (50 partitions) per id
        for (String id : new String[] {"my-txn", "", "abc", "polygenelubricants", "tx-neg", "zzzzzzz"})
            System.out.println("partition \"" + id + "\" " + id.hashCode() + " " + Utils.abs(id.hashCode()) % 50);
    }
}
