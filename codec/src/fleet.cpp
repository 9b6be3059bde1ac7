#include "mqttauth/fleet.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "mqttauth/session.hpp"
#include "mqttauth/topic.hpp"

namespace mqttauth {

namespace {

std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::uint64_t digest_of(std::uint64_t topic, Bytes payload) noexcept {
  const std::size_t n = payload.size();
  std::uint64_t head = 0, tail = 0;
  if (n > 0) std::memcpy(&head, payload.data(), n < 8 ? n : 8);  // (an empty payload may have no data pointer)
  if (n > 8) std::memcpy(&tail, payload.data() + (n < 16 ? 8 : n - 8), n < 16 ? n - 8 : 8);
  std::uint64_t h = topic;
  for (std::uint64_t v : {static_cast<std::uint64_t>(n), head, tail}) h = (h ^ v) * 0x9E3779B97F4A7C15ull + (h >> 29);
  return h;
}

constexpr std::string_view kOther = "(other)";

}  // namespace

std::uint64_t topic_hash(std::string_view topic) noexcept { return fast_hash(topic); }

std::uint64_t publish_digest(const Publish& p) noexcept { return digest_of(topic_hash(p.topic), p.payload); }
std::uint64_t publish_digest(std::uint64_t topic, Bytes payload) noexcept { return digest_of(topic, payload); }

std::string_view close_name(FleetConnEnd::Close c) noexcept {
  switch (c) {
    case FleetConnEnd::Close::open: return "open";
    case FleetConnEnd::Close::clean: return "clean";
    case FleetConnEnd::Close::abnormal: return "abnormal";
  }
  return "?";
}

std::string_view will_name(FleetConnEnd::Will w) noexcept {
  switch (w) {
    case FleetConnEnd::Will::none: return "none";
    case FleetConnEnd::Will::armed: return "armed";
    case FleetConnEnd::Will::discarded: return "discarded";
    case FleetConnEnd::Will::fired: return "fired";
  }
  return "?";
}

// --- latency ---

void LatencySamples::keep(std::int64_t ns) {
  if (kept_.size() < capacity_) {
    if (kept_.empty()) kept_.reserve(capacity_ < 16 ? capacity_ : 16);  // (no growth by ones and twos)
    kept_.push_back(ns);
    return;
  }
  // Reservoir sampling (Algorithm R) with a deterministic choice: the same input gives the same figures. (A
  // multiply-high maps the hash to [0, count): no division.)
  const auto j = static_cast<std::uint64_t>((static_cast<unsigned __int128>(mix(count_)) * count_) >> 64);
  if (j < capacity_) kept_[static_cast<std::size_t>(j)] = ns;
}

void LatencySamples::merge(const LatencySamples& o) {
  if (o.count_ == 0) return;
  const std::uint64_t before = count_;
  if (before == 0 || o.min_ < min_) min_ = o.min_;
  if (before == 0 || o.max_ > max_) max_ = o.max_;
  const std::size_t i =
      std::min<std::size_t>(o.kept_.size(), capacity_ - std::min<std::size_t>(capacity_, kept_.size()));
  kept_.insert(kept_.end(), o.kept_.begin(), o.kept_.begin() + static_cast<std::ptrdiff_t>(i));
  if (i < o.kept_.size()) {
    // A full reservoir: the other side's share of it (by count) replaces slots picked deterministically; an
    // approximation, as any merged reservoir. O(the other's samples), not O(capacity).
    const double share = static_cast<double>(o.count_) / static_cast<double>(before + o.count_);
    const auto take =
        std::min<std::size_t>(o.kept_.size() - i, static_cast<std::size_t>(std::llround(share * capacity_)));
    for (std::size_t k = 0; k < take; ++k)
      kept_[static_cast<std::size_t>(mix(before + o.count_ + k) % capacity_)] = o.kept_[i + k];
  }
  count_ += o.count_;
  sum_ += o.sum_;
}

std::int64_t LatencySamples::percentile(double p) const {
  if (kept_.empty()) return 0;
  std::vector<std::int64_t> v(kept_);
  const double n = static_cast<double>(v.size());
  auto rank = static_cast<std::size_t>(p / 100.0 * n + 0.999999999);  // nearest rank: ceil(p/100 * n)
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(rank - 1), v.end());
  return v[rank - 1];
}

LatencySamples& LatencyTable::slot(std::string_view key) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= max_keys_) key = kOther;
    it = keys_.try_emplace(std::string(key), per_key_).first;
  }
  return it->second;
}

const LatencySamples& LatencyTable::all() const {
  if (keep_all_ || !stale_) return all_;
  // From the keys, in the order of their names (the same figures however the samples were split).
  std::vector<const std::pair<const std::string, LatencySamples>*> v;
  v.reserve(keys_.size());
  for (const auto& kv : keys_) v.push_back(&kv);
  std::sort(v.begin(), v.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  all_ = LatencySamples(4096);
  for (const auto* kv : v) all_.merge(kv->second);
  stale_ = false;
  return all_;
}

void LatencyTable::merge(const LatencyTable& o) {
  if (keep_all_)
    all_.merge(o.all());
  else
    stale_ = true;
  for (const auto& [k, v] : o.keys_) {
    auto it = keys_.find(k);
    if (it == keys_.end()) it = keys_.try_emplace(keys_.size() >= max_keys_ ? std::string(kOther) : k, per_key_).first;
    it->second.merge(v);
  }
}

// --- the fleet ---

void Fleet::observe_into(std::uint64_t conn, std::uint64_t peer, const Decoded& d, const Observation& ob,
                         const PacketRef& ref, FleetStep& st) {
  if (ob.dir == Direction::unknown) return;
  const Packet& p = d.packet;
  // Only these matter here (PINGREQ, SUBACK, PUBREL, AUTH, ... do not): no lookup for the others.
  if (ob.ack_latency_ns < 0 && !holds_any<Publish, Connect, Connack, Subscribe, Unsubscribe, Disconnect>(p)) return;
  if (!will_order_.empty()) expire(ref.ts_ns);
  const bool c2s = ob.dir == Direction::c2s;
  if (const auto* pub = std::get_if<Publish>(&p)) {
    // The flow audit hashed the topic already (and the payload of a QoS 1/2 PUBLISH).
    const std::uint64_t th = ob.topic_hash_of(*pub);
    const std::uint64_t dg =
        ob.ack_latency_ns < 0 && ob.publish_digest ? ob.publish_digest : digest_of(th, pub->payload);
    if (pub->qos > 0 && c2s) note_topic(th, pub->topic);
    // (The connection's state is needed for a retained PUBLISH only: no lookup for the others.)
    if (c2s)
      on_client_publish(conn, *pub, dg, ref, st);
    else
      on_server_publish(conn, *pub, dg, ref, st);
    if (st.bits) count(st);
    return;
  }
  Conn& c = this->conn(conn);
  if (c.peer == 0) c.peer = peer;
  if (ob.ack_latency_ns >= 0) {
    on_ack(c, ob);
  } else if (const auto* cn = std::get_if<Connect>(&p)) {
    if (c2s) on_connect(conn, c, *cn, ref, st);
  } else if (const auto* ca = std::get_if<Connack>(&p)) {
    if (!c2s) on_connack(conn, c, *ca, ref, st);
  } else if (const auto* sub = std::get_if<Subscribe>(&p)) {
    if (c2s)
      for (const Subscription& s : sub->subscriptions) {
        if (c.subs.size() >= kMaxSubscriptions) {
          ++counts_.bounds_hit;
          break;
        }
        if (s.retain_handling() == 2 && c.level == kLevel5) continue;  // no retained messages on this one
        c.subs.push_back(Sub{std::string(s.filter), ref.id, c.level == kLevel5 && s.retain_as_published()});
      }
  } else if (const auto* un = std::get_if<Unsubscribe>(&p)) {
    if (c2s)
      for (std::string_view f : un->filters) std::erase_if(c.subs, [&](const Sub& s) { return s.filter == f; });
  } else if (const auto* dc = std::get_if<Disconnect>(&p)) {
    if (c2s) {
      c.disconnected = true;
      c.will_on_disconnect = c.level == kLevel5 && dc->reason_code == 0x04;  // "Disconnect with Will Message"
    }
  }
  count(st);
}

void Fleet::count(const FleetStep& st) {
  if (st.bits == 0) return;
  if (st.bits & fleet::client_takeover) ++counts_.takeovers;
  if (st.bits & fleet::takeover_loop) ++counts_.takeover_loops;
  if (st.bits & fleet::reconnect_storm) ++counts_.reconnect_storms;
  if (st.bits & fleet::retained_delivered) ++counts_.retained_delivered;
  if (st.bits & fleet::retained_cleared) ++counts_.retained_cleared;
  if (st.bits & fleet::will_published) ++counts_.wills_published;
}

Fleet::Client& Fleet::client(const std::string& id, std::int64_t ts) {
  auto it = clients_.find(id);
  if (it == clients_.end()) {
    if (clients_.size() >= sweep_at_ || clients_.size() >= kMaxClients) {
      // Forget the clients with nothing open and nothing in the windows: what is kept stays bounded by the
      // clients active lately, not by all those of the capture.
      std::erase_if(clients_, [&](const auto& kv) {
        const Client& c = kv.second;
        return c.connected.empty() && c.connecting.empty() && ts - c.last_ts > opts_.storm_window_ns;
      });
      sweep_at_ = std::max<std::size_t>(4096, 2 * clients_.size());
    }
    if (clients_.size() >= kMaxClients) {
      ++counts_.bounds_hit;
      spare_ = Client{};
      return spare_;
    }
    it = clients_.try_emplace(id).first;
  }
  it->second.last_ts = ts;
  return it->second;
}

void Fleet::on_connect(std::uint64_t self, Conn& c, const Connect& p, const PacketRef& ref, FleetStep& st) {
  c.client_id = std::string(p.client_id);
  c.ack = nullptr;
  c.level = p.level;
  c.connect_frame = ref.id;
  c.subs.clear();
  c.will.reset();
  if (p.will) {
    WillMsg w{std::string(p.will->topic), digest_of(topic_hash(p.will->topic), p.will->payload), 0};
    if (p.level == kLevel5)
      if (auto d = p.will->properties.find(PropertyId::will_delay_interval))
        w.delay_ns = static_cast<std::int64_t>(d->number) * 1'000'000'000;
    c.will = std::move(w);
  }
  if (c.client_id.empty()) return;  // a server-assigned id: no identity to follow
  Client& cl = client(c.client_id, ref.ts_ns);
  c.rivals.clear();
  for (std::uint64_t o : cl.connected)
    if (auto it = conns_.find(o); it != conns_.end()) c.rivals.emplace_back(o, it->second.connect_frame);
  if (cl.connecting.size() < 64) cl.connecting.push_back(self);
  cl.connects.push_back(ref.ts_ns);
  std::erase_if(cl.connects, [&](std::int64_t t) { return ref.ts_ns - t > opts_.storm_window_ns; });
  constexpr std::size_t kKept = 256;
  if (cl.connects.size() > kKept) cl.connects.erase(cl.connects.begin());
  if (cl.connects.size() >= opts_.storm_connections) {
    if (!cl.storming) {
      st.bits |= fleet::reconnect_storm;
      st.count = static_cast<std::uint32_t>(cl.connects.size());
      st.interval_ns = (cl.connects.back() - cl.connects.front()) / static_cast<std::int64_t>(cl.connects.size() - 1);
    }
    cl.storming = true;
  } else {
    cl.storming = false;
  }
}

void Fleet::on_connack(std::uint64_t id, Conn& c, const Connack& p, const PacketRef& ref, FleetStep& st) {
  if (c.connected || c.client_id.empty()) return;
  Client& cl = client(c.client_id, ref.ts_ns);
  std::erase(cl.connecting, id);
  if (p.code != 0) return;
  c.connected = true;
  for (const auto& rival : c.rivals) {
    const std::uint64_t other = rival.first, connect_frame = rival.second;
    // The server accepted a second connection of a client id that was connected when it sent CONNECT: it must
    // close the first [MQTT-3.1.4-2 / MQTT-3.1.4-3]; unless that one left with a DISCONNECT meanwhile.
    auto it = conns_.find(other);
    if (it == conns_.end()) {
      auto e = std::find_if(cl.ended.begin(), cl.ended.end(), [&](const auto& x) { return x.first == other; });
      if (e == cl.ended.end() || e->second) continue;
    } else {
      it->second.taken_over_by = id;
    }
    st.bits |= fleet::client_takeover;
    st.related = connect_frame;
    st.other_conn = other;
    c.took_over = other;
    cl.takeovers.emplace_back(ref.ts_ns, c.peer);
  }
  if (st.bits & fleet::client_takeover)
    std::erase_if(cl.connected, [&](std::uint64_t o) {
      return std::any_of(c.rivals.begin(), c.rivals.end(), [&](const auto& r) { return r.first == o; });
    });
  cl.connected.push_back(id);
  std::erase_if(cl.takeovers, [&](const auto& t) { return ref.ts_ns - t.first > opts_.storm_window_ns; });
  if (cl.takeovers.size() > 256) cl.takeovers.erase(cl.takeovers.begin());
  if (!(st.bits & fleet::client_takeover)) return;
  std::set<std::uint64_t> peers;
  for (const auto& t : cl.takeovers) peers.insert(t.second);
  // The connection taken over counts as an address in the loop too.
  if (auto it = conns_.find(c.took_over); it != conns_.end()) peers.insert(it->second.peer);
  if (cl.takeovers.size() >= opts_.loop_takeovers && peers.size() >= 2) {
    if (!cl.looping) {
      st.bits |= fleet::takeover_loop;
      st.count = static_cast<std::uint32_t>(cl.takeovers.size());
      st.interval_ns =
          (cl.takeovers.back().first - cl.takeovers.front().first) / static_cast<std::int64_t>(cl.takeovers.size() - 1);
    }
    cl.looping = true;
  } else {
    cl.looping = false;
  }
}

void Fleet::on_client_publish(std::uint64_t id, const Publish& p, std::uint64_t dg, const PacketRef& ref,
                              FleetStep& st) {
  if (p.retain) {
    auto it = retained_.find(p.topic);
    if (p.payload.empty()) {
      // A zero-byte retained PUBLISH removes the topic's retained message [MQTT-3.3.1-10].
      st.bits |= fleet::retained_cleared;
      if (it != retained_.end()) {
        st.related = it->second.frame;
        retained_.erase(it);
      }
    } else if (it != retained_.end()) {
      it->second = Retained{ref.ts_ns, ref.id, dg};
    } else if (retained_.size() < kMaxRetained) {
      retained_.try_emplace(std::string(p.topic), Retained{ref.ts_ns, ref.id, dg});
    } else {
      ++counts_.bounds_hit;
    }
  }
  if (pending_next_ >= pending_.size() && pending_.size() < kMaxPending) {
    // Full before it wrapped: twice the size (from 4,096), the index made again from the ring, oldest first
    // (so the newest of a slot wins, as when they came). A short capture does not pay for the whole table.
    pending_.resize(pending_.empty() ? 4096 : 2 * pending_.size());
    pending_at_.assign(pending_.size(), 0);
    for (std::uint32_t i = 0; i < pending_next_; ++i)
      pending_at_[pending_[i].digest & (pending_at_.size() - 1)] = i + 1;
  }
  const auto pos = static_cast<std::uint32_t>(pending_next_++ & (pending_.size() - 1));
  pending_[pos] = Pending{ref.ts_ns, ref.id, id, dg};
  pending_at_[dg & (pending_at_.size() - 1)] = pos + 1;
}

void Fleet::on_server_publish(std::uint64_t id, const Publish& p, std::uint64_t dg, const PacketRef& ref,
                              FleetStep& st) {
  // A will: the same topic and payload as the will of a connection that closed abnormally.
  if (auto range = wills_.equal_range(dg); range.first != range.second) {
    for (auto it = range.first; it != range.second; ++it)
      if (it->second.conn != id && it->second.msg.topic == p.topic) {
        st.bits |= fleet::will_published;
        st.related = it->second.frame;
        st.other_conn = it->second.conn;
        return;
      }
  }
  if (p.retain) {
    // Sent because of a new subscription [MQTT-3.3.1-8]; in MQTT 5 also a message forwarded on a subscription
    // with Retain As Published, which is not one.
    Conn& c = conn(id);
    const Sub* match = nullptr;
    for (const Sub& s : c.subs)
      if (topic_matches(s.filter, p.topic)) match = &s;
    if (c.level != kLevel5 || (match && !match->rap)) {
      st.bits |= fleet::retained_delivered;
      if (match) st.related = match->frame;
      if (auto it = retained_.find(p.topic); it != retained_.end() && it->second.digest == dg) {
        st.delivered_from = it->second.frame;
        st.retained_age_ns = ref.ts_ns - it->second.ts;
      }
      return;
    }
  }
  // A delivery: the latest client PUBLISH of the same digest within the window.
  if (pending_.empty()) return;
  const std::uint32_t at = pending_at_[dg & (pending_at_.size() - 1)];
  if (at == 0) return;
  const Pending& q = pending_[at - 1];
  if (q.digest != dg || q.frame == 0 || q.ts > ref.ts_ns || ref.ts_ns - q.ts > opts_.delivery_window_ns) return;
  const Pending* best = &q;
  if (!best) return;
  st.delivered_from = best->frame;
  st.other_conn = best->conn;
  st.delivery_ns = ref.ts_ns - best->ts;
  ++counts_.deliveries;
  delivery_topic_.add(p.topic, st.delivery_ns);
}

void Fleet::on_ack(Conn& c, const Observation& ob) {
  // The latency of the client's PUBLISH: the server's PUBACK, PUBREC and PUBCOMP.
  if (ob.dir != Direction::s2c) return;
  if (!c.ack) c.ack = &ack_client_.slot(c.client_id.empty() ? std::string_view("(unknown)") : c.client_id);
  ack_client_.add(*c.ack, ob.ack_latency_ns);
  if (!c.ack_topic_slot || c.ack_topic != ob.ack_topic) {  // (a device acknowledged on one topic after another)
    c.ack_topic_slot = &ack_topic_slot(ob.ack_topic);
    c.ack_topic = ob.ack_topic;
  }
  c.ack_topic_slot->add(ob.ack_latency_ns);  // (ack_topic_.all() would repeat ack_client_'s)
}

LatencySamples& Fleet::ack_topic_slot(std::uint64_t hash) {
  if (ack_topics_.empty()) ack_topics_.resize(4096);
  AckTopic& a = ack_topics_[hash & (ack_topics_.size() - 1)];
  if (a.slot && a.hash == hash) return *a.slot;
  LatencySamples* slot;
  if (auto it = topics_.find(hash); it != topics_.end()) {
    if (!it->second.ack) it->second.ack = &ack_topic_.slot(it->second.name);
    slot = it->second.ack;
  } else {
    slot = &ack_topic_.slot(kOther);
    // A topic not noted yet may be later (then it gets a slot of its own): remembered only once none can be.
    if (topics_.size() < kMaxTopics) return *slot;
  }
  a = AckTopic{hash, slot};  // (slots stay where they are: ack_topic_ only grows)
  return *slot;
}

void Fleet::note_topic(std::uint64_t hash, std::string_view topic) {
  // Most PUBLISH repeat a topic noted a moment ago: a small direct-mapped memory of those saves the lookup.
  std::uint64_t& seen = noted_[hash & (noted_.size() - 1)];
  if (seen == hash) return;
  seen = hash;
  if (topics_.size() >= kMaxTopics || topics_.count(hash)) return;
  topics_.try_emplace(hash, Topic{std::string(topic), nullptr});
}

void Fleet::expire(std::int64_t now) {
  while (!will_order_.empty() && now > will_order_.front().first) {
    const std::uint64_t dg = will_order_.front().second;
    const std::int64_t until = will_order_.front().first;
    will_order_.pop_front();
    for (auto [it, end] = wills_.equal_range(dg); it != end; ++it)
      if (it->second.until == until) {
        wills_.erase(it);
        break;
      }
  }
}

FleetConnEnd Fleet::end(std::uint64_t conn, const PacketRef& ref, bool closed) {
  FleetConnEnd e;
  auto it = conns_.find(conn);
  if (it == conns_.end()) return e;
  Conn& c = it->second;
  e.taken_over_by = c.taken_over_by;
  e.took_over = c.took_over;
  if (!closed) {
    e.will = c.will ? FleetConnEnd::Will::armed : FleetConnEnd::Will::none;
  } else {
    e.close = c.disconnected ? FleetConnEnd::Close::clean : FleetConnEnd::Close::abnormal;
    if (c.will) {
      // Published when the connection closes without a DISCONNECT [MQTT-3.1.2-8] (or with MQTT 5's 0x04);
      // discarded on a DISCONNECT [MQTT-3.1.2-10] and when the connection was never accepted.
      if (c.connected && (!c.disconnected || c.will_on_disconnect)) {
        e.will = FleetConnEnd::Will::fired;
        ++counts_.wills_fired;
        if (wills_.size() < kMaxPending) {
          const std::int64_t until = ref.ts_ns + c.will->delay_ns + opts_.delivery_window_ns;
          const std::uint64_t dg = c.will->digest;
          wills_.emplace(dg, PendingWill{std::move(*c.will), until, ref.id, conn});
          will_order_.emplace_back(until, dg);
          // Expiry times differ with the will delay: kept in order of expiry.
          std::inplace_merge(will_order_.begin(), will_order_.end() - 1, will_order_.end());
        } else {
          ++counts_.bounds_hit;
        }
      } else {
        e.will = FleetConnEnd::Will::discarded;
      }
    }
  }
  if (!c.client_id.empty())
    if (auto cl = clients_.find(c.client_id); cl != clients_.end()) {
      Client& k = cl->second;
      std::erase(k.connected, conn);
      std::erase(k.connecting, conn);
      // Closed while a connection of its client id is being accepted: the server taking it over (the
      // takeover finding itself waits for that one's CONNACK).
      if (closed && !c.disconnected && e.taken_over_by == 0)
        for (std::uint64_t n : k.connecting)
          if (auto it2 = conns_.find(n); it2 != conns_.end())
            for (const auto& r : it2->second.rivals)
              if (r.first == conn) e.taken_over_by = n;
      k.ended.emplace_back(conn, c.disconnected);
      if (k.ended.size() > 16) k.ended.erase(k.ended.begin());
    }
  if (ConnSlot& slot = conn_slots_[conn & (conn_slots_.size() - 1)]; slot.id == conn) slot = ConnSlot{};
  conns_.erase(it);
  return e;
}

Fleet::Conn& Fleet::conn(std::uint64_t id) {
  ConnSlot& slot = conn_slots_[id & (conn_slots_.size() - 1)];
  if (slot.conn && slot.id == id) return *slot.conn;
  Conn& c = conns_[id];
  slot = ConnSlot{id, &c};
  return c;
}

}  // namespace mqttauth
