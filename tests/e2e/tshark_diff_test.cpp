// Differential tests of `mqttauth decode` on synthetic captures made by mqttauth_synth:
//  - standard MQTT 3.1.1 (no custom authenticate, no awkward segment boundaries): packet for packet against
//    tshark (frame, type, packet id, topic, QoS);
//  - the same with MQTT 3.1, 3.1.1 and 5.0 mixed and the custom authenticate packets (types 0 and 15, which
//    tshark shows as a bare message type), in a pcapng file;
//  - with --segment-split (segments ending inside fixed headers and remaining-length fields), where tshark 4.0
//    loses its place: the count of each packet type against the generator's manifest, exactly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../plugin/have_tshark.hpp"
#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

int shell(const std::string& cmd) {
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs mqttauth_synth; returns its exit code.
int synth(const std::vector<std::string>& args, const std::string& log) {
  std::string cmd = shell_quote(MQTTAUTH_SYNTH_BIN);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  return shell(cmd + " >" + shell_quote(log) + " 2>&1");
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> v;
  if (s.empty()) return v;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      v.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  v.push_back(cur);
  return v;
}

// One MQTT packet as both tools can show it. Absent fields are empty.
struct Pdu {
  std::uint64_t frame = 0;
  int type = -1;
  std::string packet_id;
  std::vector<std::string> topics;  // PUBLISH: its topic; SUBSCRIBE / UNSUBSCRIBE: the filters
  std::string qos;                  // PUBLISH; and see header_qos_shown()
  friend bool operator==(const Pdu&, const Pdu&) = default;
};

std::string show(const Pdu& p) {
  std::ostringstream s;
  s << "frame " << p.frame << " type " << p.type << " id '" << p.packet_id << "' topics [";
  for (std::size_t i = 0; i < p.topics.size(); ++i) s << (i ? "," : "") << p.topics[i];
  s << "] qos '" << p.qos << "'";
  return s.str();
}

bool carries_packet_id(int type) { return type >= 4 && type <= 11; }
bool carries_topic_list(int type) { return type == 8 || type == 10; }
// In an MQTT 3.1 connection tshark 4.0 also shows the fixed header's QoS bits (always 1) of PUBREL, SUBSCRIBE
// and UNSUBSCRIBE as mqtt.qos.
bool header_qos_shown(int type, int level) { return level == 3 && (type == 6 || type == 8 || type == 10); }

std::string num(double d) { return std::to_string(static_cast<long long>(d)); }

// mqttauth decode --format jsonl: one Pdu per packet line; `errors` counts error lines.
std::vector<Pdu> from_mqttauth(const std::string& out, std::size_t& errors) {
  std::vector<Pdu> v;
  std::map<double, int> level;  // per connection, from its CONNECT
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    Json j = Json::parse(line);
    if (j.has("record")) continue;  // gap, resync, tls, connection_end: not packets
    if (j.has("error")) {
      ++errors;
      continue;
    }
    Pdu p;
    p.frame = static_cast<std::uint64_t>(j["frame"].num());
    p.type = static_cast<int>(j["code"].num());
    if (j["type"].str() == "connect") level[j["conn"].num()] = static_cast<int>(j["protocol_level"].num());
    if (header_qos_shown(p.type, level[j["conn"].num()]))
      p.qos = num(static_cast<double>((static_cast<int>(j["flags"].num()) >> 1) & 3));
    if (j.has("packet_id")) p.packet_id = num(j["packet_id"].num());
    const std::string& type = j["type"].str();
    if (type == "publish") {
      p.topics.push_back(j["topic"].str());
      p.qos = num(j["qos"].num());
    } else if (type == "subscribe") {
      for (std::size_t i = 0; i < j["subscriptions"].size(); ++i)
        p.topics.push_back(j["subscriptions"][i]["topic"].str());
    } else if (type == "unsubscribe") {
      for (std::size_t i = 0; i < j["topics"].size(); ++i) p.topics.push_back(j["topics"][i].str());
    }
    v.push_back(std::move(p));
  }
  return v;
}

// tshark rows "frame \t types \t ids \t topics \t qos", where a frame with several MQTT PDUs lists each field's
// values comma-separated, and a PDU without the field adds nothing. The values are dealt back to the PDUs by
// the rules of the dissector: a QoS per PUBLISH, a packet id per PUBLISH with QoS > 0 and per type 4..11, a
// topic per PUBLISH and the rest of the topics to SUBSCRIBE / UNSUBSCRIBE (one each but the last, which takes
// what remains); QoS values beyond one per PUBLISH go to PUBREL / SUBSCRIBE / UNSUBSCRIBE (an MQTT 3.1
// connection: see header_qos_shown()). Values left over, or missing, make the row fail.
std::vector<Pdu> from_tshark(const std::string& out, std::vector<std::string>& problems) {
  std::vector<Pdu> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    auto f = split(line, '\t');
    f.resize(5);
    if (f[1].empty()) continue;  // no MQTT in this frame
    auto types = split(f[1], ',');
    auto ids = split(f[2], ',');
    auto topics = split(f[3], ',');
    auto qos = split(f[4], ',');
    std::size_t ii = 0, ti = 0, qi = 0;
    std::size_t lists = 0, publishes = 0, header_qos = 0;
    for (const auto& t : types) {
      int code = std::atoi(t.c_str());
      if (carries_topic_list(code)) ++lists;
      if (code == 3) ++publishes;
      if (header_qos_shown(code, 3)) ++header_qos;
    }
    std::size_t list_topics = topics.size() >= publishes ? topics.size() - publishes : 0;
    const bool level31 = header_qos > 0 && qos.size() == publishes + header_qos;
    bool bad = false;
    for (const auto& t : types) {
      Pdu p;
      p.frame = std::strtoull(f[0].c_str(), nullptr, 10);
      p.type = std::atoi(t.c_str());
      if (p.type == 3) {
        if (qi < qos.size())
          p.qos = qos[qi++];
        else
          bad = true;
        if (ti < topics.size())
          p.topics.push_back(topics[ti++]);
        else
          bad = true;
        if (p.qos != "0") {
          if (ii < ids.size())
            p.packet_id = ids[ii++];
          else
            bad = true;
        }
      } else if (carries_packet_id(p.type)) {
        if (ii < ids.size())
          p.packet_id = ids[ii++];
        else
          bad = true;
        if (level31 && header_qos_shown(p.type, 3)) {
          if (qi < qos.size())
            p.qos = qos[qi++];
          else
            bad = true;
        }
      }
      if (carries_topic_list(p.type)) {
        std::size_t n = --lists == 0 ? list_topics : 1;
        for (std::size_t k = 0; k < n && ti < topics.size(); ++k) p.topics.push_back(topics[ti++]);
        list_topics -= std::min(n, list_topics);
      }
      v.push_back(std::move(p));
    }
    if (bad || ii != ids.size() || ti != topics.size() || qi != qos.size()) problems.push_back(line);
  }
  return v;
}

// Compares two packet sequences; reports the first difference with some context.
void expect_same(const std::vector<Pdu>& ours, const std::vector<Pdu>& theirs) {
  std::size_t n = std::min(ours.size(), theirs.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (ours[i] == theirs[i]) continue;
    ADD_FAILURE() << "packet " << (i + 1) << " differs\n  mqttauth: " << show(ours[i])
                  << "\n  tshark:   " << show(theirs[i]);
    return;
  }
  EXPECT_EQ(ours.size(), theirs.size()) << "packet counts differ after " << n << " equal packets";
}

void diff_against_tshark(const std::vector<std::string>& synth_args, const std::string& name) {
  if (!have_tshark()) GTEST_SKIP() << "tshark is not on PATH";
  const std::string dir = temp_dir();
  const std::string pcap = dir + "/" + name + ".pcap";
  std::vector<std::string> args{"-o", pcap};
  args.insert(args.end(), synth_args.begin(), synth_args.end());
  ASSERT_EQ(synth(args, dir + "/" + name + ".synth.log"), 0) << slurp(dir + "/" + name + ".synth.log");

  const std::string ts_out = dir + "/" + name + ".tshark.tsv";
  const std::string ts_err = dir + "/" + name + ".tshark.err";  // as root, tshark warns on stderr: fine
  int rc = shell("tshark -r " + shell_quote(pcap) +
                 " -T fields -E separator=/t -e frame.number -e mqtt.msgtype -e mqtt.msgid -e mqtt.topic"
                 " -e mqtt.qos >" +
                 shell_quote(ts_out) + " 2>" + shell_quote(ts_err));
  ASSERT_EQ(rc, 0) << slurp(ts_err);
  std::vector<std::string> problems;
  auto theirs = from_tshark(slurp(ts_out), problems);
  ASSERT_TRUE(problems.empty()) << problems.size()
                                << " tshark rows could not be dealt to packets, first: " << problems.front();

  auto r = run({"decode", "--format", "jsonl", pcap});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::size_t errors = 0;
  auto ours = from_mqttauth(r.out, errors);
  EXPECT_EQ(errors, 0u);
  ASSERT_GT(theirs.size(), 100u) << "tshark found too few MQTT packets to compare";
  expect_same(ours, theirs);
}

// Per-type counts of a decode against the generator's manifest.
void compare_with_manifest(const std::vector<std::string>& synth_args, const std::string& name) {
  const std::string dir = temp_dir();
  const std::string pcap = dir + "/" + name + ".pcap";
  const std::string manifest = dir + "/" + name + ".manifest.json";
  std::vector<std::string> args{"-o", pcap, "--manifest", manifest};
  args.insert(args.end(), synth_args.begin(), synth_args.end());
  ASSERT_EQ(synth(args, dir + "/" + name + ".synth.log"), 0) << slurp(dir + "/" + name + ".synth.log");
  Json m = Json::parse(slurp(manifest));
  // The capture must exercise what this test is about.
  ASSERT_GT(m["segment_splits"]["fixed_header"].num(), 0);
  ASSERT_GT(m["segment_splits"]["remaining_length"].num(), 0);

  auto r = run({"decode", "--format", "jsonl", pcap});
  EXPECT_EQ(r.rc, 0) << r.err;
  std::map<std::string, double> counts;
  std::map<int, double> auth_codes;
  std::size_t errors = 0;
  std::string first_error;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    Json j = Json::parse(line);
    if (j.has("record")) continue;  // gap, resync, tls, connection_end: not packets
    if (j.has("error")) {
      if (errors++ == 0) first_error = line;
      continue;
    }
    counts[j["type"].str()] += 1;
    if (j["type"].str() == "authenticate") auth_codes[static_cast<int>(j["code"].num())] += 1;
  }
  EXPECT_EQ(errors, 0u) << "first: " << first_error;
  const Json& want = m["packets_by_type"];
  std::map<std::string, double> expected;
  for (const char* t :
       {"connect", "connack", "authenticate", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe", "suback",
        "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth", "reserved"}) {
    if (want.has(t)) expected[t] = want[t].num();
  }
  EXPECT_EQ(want.size(), expected.size()) << "the manifest has a type this test does not know";
  for (const auto& [type, n] : expected) EXPECT_EQ(counts[type], n) << type;
  for (const auto& [type, n] : counts) EXPECT_TRUE(expected.count(type)) << "unexpected type " << type << " x" << n;
  EXPECT_EQ(auth_codes[0], m["authenticate_by_code"]["0"].num());
  EXPECT_EQ(auth_codes[15], m["authenticate_by_code"]["15"].num());
}

}  // namespace

TEST(TsharkDiff, Mqtt311PacketForPacket) {
  diff_against_tshark({"--seed", "20251125", "--clients", "12", "--levels", "4", "--no-auth", "--publishes", "10,80"},
                      "std311");
}

TEST(TsharkDiff, MixedLevelsAndAuthenticatePacketForPacket) {
  diff_against_tshark({"--seed", "4242", "--clients", "16", "--levels", "3,4,5", "--auth-ratio", "0.5", "--publishes",
                       "10,60", "--pcapng"},
                      "mixed");
}

TEST(TsharkDiff, SegmentSplitCountsMatchManifest) {
  compare_with_manifest({"--seed", "77", "--clients", "25", "--levels", "3,4,5", "--auth-ratio", "0.5", "--publishes",
                         "20,120", "--segment-split"},
                        "split");
}
