import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A campus system written in Java, for the interop tests: it builds each CloudEvent itself with Jackson and sends
 * it with the official Kafka client (default partitioner), the way a Java producer of the contract would.
 *
 * <p>Usage: {@code ContractProducer <bootstrap> <input.tsv>}. Input lines, tab-separated:
 * topic, type, time, time style, data JSON. The time style "iso" formats the time with ISO_OFFSET_DATE_TIME
 * (always RFC 3339); "tostring" uses OffsetDateTime.toString(), which drops ":00" seconds. Output lines,
 * tab-separated: id, topic, partition, offset.
 */
public final class ContractProducer {
  private ContractProducer() {}

  /**
   * What a campus system on the Java client sets for the platform's brokers: SASL/SCRAM-SHA-512 over TLS, trusting
   * the platform's CA from a PEM file (no JKS, no keytool). Taken here from the same environment variables as the
   * platform's own services (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_FILE).
   */
  static void configureSecurity(Properties config) {
    String protocol = System.getenv().getOrDefault("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT");
    if (protocol.equals("PLAINTEXT")) {
      return;
    }
    config.put("security.protocol", protocol);
    if (protocol.startsWith("SASL_")) {
      config.put("sasl.mechanism", System.getenv().getOrDefault("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"));
      config.put(
          "sasl.jaas.config",
          "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
              + System.getenv("KAFKA_SASL_USERNAME")
              + "\" password=\""
              + System.getenv("KAFKA_SASL_PASSWORD")
              + "\";");
    }
    String ca = System.getenv("KAFKA_SSL_CA_FILE");
    if (ca != null && protocol.endsWith("SSL")) {
      config.put("ssl.truststore.type", "PEM");
      config.put("ssl.truststore.location", ca);
      config.put("ssl.endpoint.identification.algorithm", "https");
    }
  }

  public static void main(String[] args) throws Exception {
    ObjectMapper mapper = new ObjectMapper();
    Properties config = new Properties();
    config.put("bootstrap.servers", args[0]);
    config.put("acks", "all");
    config.put("key.serializer", ByteArraySerializer.class.getName());
    config.put("value.serializer", ByteArraySerializer.class.getName());
    configureSecurity(config);
    List<String> lines = Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(config)) {
      for (String line : lines) {
        if (line.isEmpty()) {
          continue;
        }
        String[] fields = line.split("\t", 5);
        String topic = fields[0];
        String type = fields[1];
        OffsetDateTime time = OffsetDateTime.parse(fields[2]);
        boolean toStringStyle = fields[3].equals("tostring");
        JsonNode data = mapper.readTree(fields[4]);
        // The contract's key rule: the enrolment id, or "<academic_year>/<microcredential_id>" for the catalogue.
        String subject = data.has("enrolment_id")
            ? data.get("enrolment_id").asText()
            : data.get("academic_year").asText() + "/" + data.get("microcredential_id").asText();
        String id = UUID.randomUUID().toString();

        ObjectNode event = mapper.createObjectNode();
        event.put("specversion", "1.0");
        event.put("id", id);
        event.put("source", "/campus/java-sis");
        event.put("type", type);
        event.put("time", toStringStyle ? time.toString() : time.format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
        event.put("subject", subject);
        event.put("datacontenttype", "application/json");
        event.put("partitionkey", subject);
        event.set("data", data);

        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(
            topic, subject.getBytes(StandardCharsets.UTF_8), mapper.writeValueAsBytes(event));
        record.headers().add("content-type", "application/cloudevents+json".getBytes(StandardCharsets.UTF_8));
        RecordMetadata metadata = producer.send(record).get();
        System.out.println(id + "\t" + topic + "\t" + metadata.partition() + "\t" + metadata.offset());
      }
      producer.flush();
    }
  }
}
