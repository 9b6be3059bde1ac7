// The model across connections (beside the per-connection Session, equally pure and deterministic): client
// identity over time (takeovers, takeover loops, reconnect storms), retained messages and wills, and latency
// (PUBLISH to its acknowledgement per client and topic; a client's PUBLISH to its delivery to another
// connection, matched by topic and payload digest within a window). The CLI's analyzer and the Wireshark plugin
// each feed one with every decoded packet in capture order, so both report the same findings on the same
// frames.
//
// Memory is bounded by what is open: per open connection a few words and its subscriptions (at most
// kMaxSubscriptions), clients, pending deliveries, wills and retained topics each up to a bound; a bound hit
// is counted in bounds_hit(), never a reason to grow.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mqttauth/codec.hpp"
#include "mqttauth/hash.hpp"

namespace mqttauth {

enum class Direction : std::uint8_t;
struct Observation;
struct PacketRef;

// Findings of one packet (FleetStep::bits); fleet_finding() names each.
namespace fleet {
inline constexpr std::uint8_t client_takeover = 1u << 0;     // accepted while the client id is connected elsewhere
inline constexpr std::uint8_t takeover_loop = 1u << 1;       // the id flapping between addresses
inline constexpr std::uint8_t reconnect_storm = 1u << 2;     // many connections of one client id in a short time
inline constexpr std::uint8_t retained_delivered = 1u << 3;  // a retained message sent on a new subscription
inline constexpr std::uint8_t retained_cleared = 1u << 4;    // a zero-byte retained PUBLISH
inline constexpr std::uint8_t will_published = 1u << 5;      // the will of a connection that closed abnormally
}  // namespace fleet

struct FleetStep {
  std::uint8_t bits = 0;
  // The frame (PacketRef::id) the finding refers back to: the CONNECT of the connection taken over, the
  // SUBSCRIBE a retained message answers, the end of the connection whose will this is, the retained PUBLISH
  // a zero-byte one clears.
  std::optional<std::uint64_t> related;
  std::uint64_t other_conn = 0;  // the connection taken over / whose will this is / that published
  // Takeover loop and reconnect storm: how many in the window, and the mean interval between them.
  std::uint32_t count = 0;
  std::int64_t interval_ns = 0;
  // A PUBLISH the server sends: the client PUBLISH it delivers (another connection's, same topic and payload
  // digest, within the window), and the time from that one to this. A retained one: its age when known.
  std::optional<std::uint64_t> delivered_from;
  std::int64_t delivery_ns = -1;
  std::int64_t retained_age_ns = -1;
};

// Latency samples of one key: count, min, max and mean exact; percentiles exact up to `capacity` samples, then
// from a deterministic reservoir sample of that size (an approximation, documented in the README).
class LatencySamples {
 public:
  explicit LatencySamples(std::uint32_t capacity = 256) : capacity_(capacity) {}
  void add(std::int64_t ns) {  // (inline: one per acknowledgement)
    if (count_ == 0) {
      min_ = max_ = ns;
    } else {
      min_ = ns < min_ ? ns : min_;
      max_ = ns > max_ ? ns : max_;
    }
    ++count_;
    sum_ += ns;
    if (kept_.size() < kept_.capacity() && kept_.size() < capacity_)
      kept_.push_back(ns);
    else
      keep(ns);
  }
  void merge(const LatencySamples& o);
  std::uint64_t count() const noexcept { return count_; }
  std::int64_t min() const noexcept { return min_; }
  std::int64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // Nearest-rank percentile (0 < p <= 100) of the samples kept; 0 without samples.
  std::int64_t percentile(double p) const;
  // Every sample is kept (not only while the count is within this capacity: samples merged from a smaller
  // reservoir may be fewer than their count).
  bool exact() const noexcept { return kept_.size() == count_; }
  // What a saved one needs (stats --merge): the samples kept and the sum; and one made back from them.
  const std::vector<std::int64_t>& kept() const noexcept { return kept_; }
  __int128 sum() const noexcept { return sum_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  static LatencySamples restore(std::uint32_t capacity, std::uint64_t count, std::int64_t min, std::int64_t max,
                                __int128 sum, std::vector<std::int64_t> kept) {
    LatencySamples s(capacity);
    s.count_ = count;
    s.min_ = min;
    s.max_ = max;
    s.sum_ = sum;
    if (kept.size() > capacity) kept.resize(capacity);
    s.kept_ = std::move(kept);
    return s;
  }

 private:
  void keep(std::int64_t ns);  // add()'s sample when the vector must grow or the reservoir is full

  std::uint32_t capacity_;
  std::uint64_t count_ = 0;
  std::int64_t min_ = 0, max_ = 0;
  __int128 sum_ = 0;
  std::vector<std::int64_t> kept_;
};

// Latency per key (client id or topic), at most `max_keys` keys; the rest under "(other)".
class LatencyTable {
 public:
  // keep_all: all() sampled as samples come (exact up to 4,096); otherwise made from the keys' samples when
  // asked for (one add less per sample; exact while every key's are).
  explicit LatencyTable(std::size_t max_keys = 4096, std::uint32_t per_key = 256, bool keep_all = true)
      : max_keys_(max_keys), per_key_(per_key), keep_all_(keep_all) {}
  void add(std::string_view key, std::int64_t ns) { add(slot(key), ns); }
  // The samples of `key` (made when new; "(other)" beyond max_keys): stable while the table lives, so a caller
  // can keep it and add to it without a lookup.
  LatencySamples& slot(std::string_view key);
  void add(LatencySamples& slot, std::int64_t ns) {
    if (keep_all_)
      all_.add(ns);
    else
      stale_ = true;
    slot.add(ns);
  }
  void merge(const LatencyTable& o);
  // Adds the samples of one key of another table.
  void merge_key(std::string_view key, const LatencySamples& s) {
    slot(key).merge(s);
    if (keep_all_)
      all_.merge(s);
    else
      stale_ = true;
  }
  const std::unordered_map<std::string, LatencySamples, StringHash, std::equal_to<>>& keys() const noexcept {
    return keys_;
  }
  const LatencySamples& all() const;
  // A saved table back: its overall samples and some of its keys' (stats --merge).
  void restore(const LatencySamples& all, const std::vector<std::pair<std::string, LatencySamples>>& keys) {
    for (const auto& [k, v] : keys) slot(k).merge(v);
    all_.merge(all);
    stale_ = false;
    keep_all_ = true;
  }

 private:
  std::size_t max_keys_;
  std::uint32_t per_key_;
  bool keep_all_;
  std::unordered_map<std::string, LatencySamples, StringHash, std::equal_to<>> keys_;
  mutable bool stale_ = false;
  mutable LatencySamples all_{4096};
};

// What the fleet model knows of a connection when it ends.
struct FleetConnEnd {
  enum class Close : std::uint8_t { open, clean, abnormal };
  // none: no will; armed: the capture ended with the connection open; discarded: a clean DISCONNECT (or no
  // CONNACK); fired: the connection closed without one (or with MQTT 5's reason 0x04), the server must publish it.
  enum class Will : std::uint8_t { none, armed, discarded, fired };
  Close close = Close::open;
  Will will = Will::none;
  std::uint64_t taken_over_by = 0;  // the connection that took its client id over
  std::uint64_t took_over = 0;      // the connection it took over
};
std::string_view close_name(FleetConnEnd::Close c) noexcept;  // "open", "clean", "abnormal"
std::string_view will_name(FleetConnEnd::Will w) noexcept;    // "none", "armed", "discarded", "fired"

struct FleetOptions {
  std::int64_t storm_window_ns = 60'000'000'000;     // reconnect storm: this many connections of one id ...
  std::uint32_t storm_connections = 5;               // ... within the window
  std::uint32_t loop_takeovers = 3;                  // takeover loop: this many takeovers within storm_window_ns
  std::int64_t delivery_window_ns = 10'000'000'000;  // a delivery matches a PUBLISH at most this much older
};

class Fleet {
 public:
  explicit Fleet(FleetOptions o = {}) : opts_(o) {}
  // (Not copied: its caches point into its own tables.)
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // One decoded packet of connection `conn` (the caller's id, unique in the capture) whose client side is at
  // address `peer` (any stable value per address: loops are told by it), after Session::observe gave `ob`.
  FleetStep observe(std::uint64_t conn, std::uint64_t peer, const Decoded& d, const Observation& ob,
                    const PacketRef& ref) {
    FleetStep st;
    observe_into(conn, peer, d, ob, ref, st);
    return st;
  }
  // The same into `st`, a fresh FleetStep (the analyzer's: ob.fleet, filled in place).
  void observe_into(std::uint64_t conn, std::uint64_t peer, const Decoded& d, const Observation& ob,
                    const PacketRef& ref, FleetStep& st);
  // The connection ended: `closed` when its TCP connection ended (FIN, RST), not when the capture did.
  FleetConnEnd end(std::uint64_t conn, const PacketRef& ref, bool closed);

  // PUBLISH to PUBACK / PUBREC / PUBCOMP, per client id and per topic; a client's PUBLISH to its delivery.
  const LatencyTable& ack_by_client() const noexcept { return ack_client_; }
  // (Its all() stays empty: it would be ack_by_client().all() again.)
  const LatencyTable& ack_by_topic() const noexcept { return ack_topic_; }
  const LatencyTable& delivery_by_topic() const noexcept { return delivery_topic_; }
  // The three tables moved out, at the end of a run (a caller that would otherwise copy them): the fleet is
  // left with empty tables and observes nothing more.
  struct LatencyTables {
    LatencyTable ack_by_client, ack_by_topic, delivery_by_topic;
  };
  LatencyTables take_latency_tables() && {
    return {std::move(ack_client_), std::move(ack_topic_), std::move(delivery_topic_)};
  }
  struct Counts {
    std::uint64_t takeovers = 0, takeover_loops = 0, reconnect_storms = 0, retained_delivered = 0, retained_cleared = 0,
                  wills_fired = 0, wills_published = 0, deliveries = 0;
    std::uint64_t bounds_hit = 0;  // entries not kept because a bound was reached
  };
  const Counts& counts() const noexcept { return counts_; }

  static constexpr std::size_t kMaxSubscriptions = 64;  // per connection
  // Client ids followed at once. One is forgotten once it has nothing open and nothing in the windows (its
  // connections ended more than storm_window_ns ago): a sweep whenever the table has doubled since the last.
  static constexpr std::size_t kMaxClients = 100000;
  static constexpr std::size_t kMaxPending = 65536;   // client PUBLISH awaiting delivery, wills
  static constexpr std::size_t kMaxRetained = 16384;  // retained topics
  // Topic names known by hash, for latency per topic (whose tables keep 4,096 topics, the rest "(other)").
  static constexpr std::size_t kMaxTopics = 8192;
  std::size_t clients_followed() const noexcept { return clients_.size(); }

 private:
  struct Sub {
    std::string filter;
    std::uint64_t frame;
    bool rap;  // MQTT 5 Retain As Published: the server may forward the RETAIN flag as it was published
  };
  struct WillMsg {
    std::string topic;
    std::uint64_t digest = 0;
    std::int64_t delay_ns = 0;  // MQTT 5 Will Delay Interval
  };
  struct Conn {
    std::string client_id;
    std::uint64_t peer = 0;
    std::uint8_t level = 0;
    bool connected = false, disconnected = false, will_on_disconnect = false;
    std::uint64_t connect_frame = 0, taken_over_by = 0, took_over = 0;
    std::optional<WillMsg> will;
    std::vector<Sub> subs;
    // At its CONNECT: the connections of its client id that were connected then, (id, CONNECT frame). A server
    // closes the one it takes over before or after the CONNACK (mosquitto: before).
    std::vector<std::pair<std::uint64_t, std::uint64_t>> rivals;
    LatencySamples* ack = nullptr;  // its client's slot in ack_client_
    std::uint64_t ack_topic = 0;    // the topic of its last acknowledged PUBLISH, and that topic's slot
    LatencySamples* ack_topic_slot = nullptr;
  };
  // (Vectors, not deques: an empty one allocates nothing, and a libstdc++ deque takes 576 bytes when made; the
  // few elements are dropped from the front.)
  struct Client {
    std::vector<std::uint64_t> connected;               // its connections accepted and not ended
    std::vector<std::uint64_t> connecting;              // CONNECT seen, no CONNACK yet
    std::vector<std::pair<std::uint64_t, bool>> ended;  // recently ended connections: (id, with a DISCONNECT)
    std::vector<std::int64_t> connects;                 // CONNECT times in the storm window
    std::vector<std::pair<std::int64_t, std::uint64_t>> takeovers;  // (time, peer) in the window
    bool storming = false, looping = false;
    std::int64_t last_ts = 0;
  };
  struct Pending {  // a client's PUBLISH that a delivery may match
    std::int64_t ts;
    std::uint64_t frame, conn, digest;
  };
  struct PendingWill {
    WillMsg msg;
    std::int64_t until;         // when its window ends
    std::uint64_t frame, conn;  // the end of the connection whose will it is
  };
  struct Retained {
    std::int64_t ts;
    std::uint64_t frame, digest;
  };

  void on_connect(std::uint64_t self, Conn& c, const Connect& p, const PacketRef& ref, FleetStep& st);
  void on_connack(std::uint64_t id, Conn& c, const Connack& p, const PacketRef& ref, FleetStep& st);
  void on_client_publish(std::uint64_t id, const Publish& p, std::uint64_t dg, const PacketRef& ref, FleetStep& st);
  void on_server_publish(std::uint64_t id, const Publish& p, std::uint64_t dg, const PacketRef& ref, FleetStep& st);
  void on_ack(Conn& c, const Observation& ob);
  Client& client(const std::string& id, std::int64_t ts);
  void expire(std::int64_t now);
  void note_topic(std::uint64_t hash, std::string_view topic);
  LatencySamples& ack_topic_slot(std::uint64_t hash);
  void count(const FleetStep& st);

  FleetOptions opts_;
  std::unordered_map<std::uint64_t, Conn> conns_;
  // The connections of recent packets, direct-mapped by id: most acknowledgements find theirs here without the
  // table's division and node chase (a node map's elements stay where they are; a slot is cleared by end()).
  struct ConnSlot {
    std::uint64_t id = 0;
    Conn* conn = nullptr;
  };
  std::array<ConnSlot, 1024> conn_slots_{};
  Conn& conn(std::uint64_t id);
  std::unordered_map<std::string, Client> clients_;
  std::size_t sweep_at_ = 4096;  // clients_.size() at which the next sweep is due
  // The clients' recent PUBLISH: the last kMaxPending in a ring, written in order, and found by digest through
  // a direct-mapped index of ring places (both growing from 4,096 to kMaxPending as the first messages come). A newer message whose digest falls
  // in the same index slot hides an older one, and the ring forgets a message kMaxPending messages later (so a
  // delivery may go unmatched under heavy load; never matched wrongly, the digest is compared). No allocation
  // per message, and one random write per message to a 256 KiB index: the 2 MiB table written at random it
  // replaces took a sixth of `stats`, mostly by pushing everything else out of the caches.
  std::vector<Pending> pending_;
  std::vector<std::uint32_t> pending_at_;  // by digest: a place in pending_ + 1 (0: none)
  std::uint32_t pending_next_ = 0;
  std::unordered_multimap<std::uint64_t, PendingWill> wills_;      // by digest
  std::deque<std::pair<std::int64_t, std::uint64_t>> will_order_;  // (until, digest), soonest first
  Client spare_;                                                   // stands in for a client when the table is full
  std::unordered_map<std::string, Retained, StringHash, std::equal_to<>> retained_;
  struct Topic {
    std::string name;
    LatencySamples* ack = nullptr;  // its slot in ack_topic_
  };
  std::unordered_map<std::uint64_t, Topic> topics_;  // by topic hash
  std::array<std::uint64_t, 1024> noted_{};          // topic hashes noted lately (note_topic)
  // The latency slot of a topic hash, direct-mapped (ack_topic_slot): an acknowledgement's topic is found here
  // without a lookup in topics_ (or, past kMaxTopics, in ack_topic_ for "(other)"): 13% of `stats` on a fleet
  // with more topics than kMaxTopics, a miss in both maps per acknowledgement.
  struct AckTopic {
    std::uint64_t hash = 0;
    LatencySamples* slot = nullptr;
  };
  std::vector<AckTopic> ack_topics_;  // 4,096, made at the first acknowledgement
  LatencyTable ack_client_{4096, 128, false}, ack_topic_{4096, 256}, delivery_topic_{4096, 256};
  Counts counts_;
};

// The digest a PUBLISH is matched by: its topic, the payload's length and first and last 8 bytes (the same
// message seen twice; a collision needs the same topic, length and ends). `topic_hash` is the first part.
std::uint64_t publish_digest(const Publish& p) noexcept;
std::uint64_t publish_digest(std::uint64_t topic_hash, Bytes payload) noexcept;
std::uint64_t topic_hash(std::string_view topic) noexcept;

}  // namespace mqttauth
