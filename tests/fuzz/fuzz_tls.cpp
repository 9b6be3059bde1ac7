// Fuzz target: MQTT over TLS in the CLI. The input is a key log and the two directions' bytes in the order they
// were sent: [flags] [key log length, 2 bytes] [key log text] then flights of [0x80 if from the client, else 0]
// [length, 2 bytes] [bytes]. The codec's record reader must give the same records fed whole and in pieces; the
// hello parsers take every handshake message; the CLI's TLS layer (record reassembly, key schedule, AEAD open,
// TLS 1.3 inner plaintext, KeyUpdate) must never fail or read out of bounds, with the key log or without.
// The seeds are real TLS 1.2 and 1.3 sessions between OpenSSL peers with their key logs.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mqttauth/tls.hpp"
#include "tls_layer.hpp"

namespace {

using mqttauth::tls::Record;
using mqttauth::tls::RecordReader;

// The records of `r` as text (type, version, fragment), then its error if it stopped.
std::vector<std::string> records(RecordReader& r) {
  std::vector<std::string> v;
  Record rec;
  while (true) {
    const auto st = r.next(rec);
    if (st == RecordReader::Status::need_more) return v;
    if (st == RecordReader::Status::error) {
      v.push_back("E" + std::string(r.error()) + std::to_string(r.error_offset()));
      return v;
    }
    if (rec.fragment.size() > mqttauth::tls::kMaxFragment12) std::abort();
    v.push_back(std::to_string(rec.type) + ":" + std::to_string(rec.version) + ":" + std::to_string(rec.offset) + ":" +
                std::string(rec.fragment.begin(), rec.fragment.end()));
  }
}

struct Out final : mqttauth::cli::TlsLayer::Out {
  std::size_t bytes = 0;
  void plaintext(bool, std::span<const std::uint8_t> b) override {
    if (b.size() > (1u << 14) + 256) std::abort();  // one record's content at most
    bytes += b.size();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const bool with_keys = (data[0] & 1) != 0, pieces = (data[0] & 2) != 0;
  const std::size_t klen = std::size_t{data[1]} << 8 | data[2];
  if (3 + klen > size) return 0;
  mqttauth::tls::KeyLog keys;
  keys.add(std::string_view(reinterpret_cast<const char*>(data + 3), klen));
  std::vector<std::pair<bool, std::span<const std::uint8_t>>> flights;
  for (std::size_t at = 3 + klen; at + 3 <= size;) {
    const bool client = (data[at] & 0x80) != 0;
    const std::size_t n = std::min<std::size_t>(std::size_t{data[at + 1]} << 8 | data[at + 2], size - at - 3);
    flights.emplace_back(client, std::span(data + at + 3, n));
    at += 3 + n;
  }

  // The record reader: whole and in pieces, the same records; every handshake message through the parsers.
  for (const bool side : {true, false}) {
    std::vector<std::uint8_t> stream;
    for (const auto& [client, b] : flights)
      if (client == side) stream.insert(stream.end(), b.begin(), b.end());
    RecordReader whole;
    whole.push(stream);
    const auto a = records(whole);
    RecordReader split;
    std::vector<std::string> b;
    for (std::size_t at = 0, k = 0; at < stream.size();) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + stream[k++ % stream.size()] % 97);
      split.push(std::span(stream).subspan(at, n));
      auto part = records(split);
      b.insert(b.end(), part.begin(), part.end());
      at += n;
      if (!b.empty() && b.back()[0] == 'E') break;  // the reader stops at an error, and says so once here
    }
    if (a != b) std::abort();
    mqttauth::tls::HandshakeReader hs;
    RecordReader again;
    again.push(stream);
    Record rec;
    while (again.next(rec) == RecordReader::Status::record) {
      if (rec.type != 22) continue;
      hs.push(rec.fragment);
      std::uint8_t type = 0;
      std::span<const std::uint8_t> body;
      while (hs.next(type, body)) {
        (void)mqttauth::tls::parse_client_hello(body);
        (void)mqttauth::tls::parse_server_hello(body);
      }
    }
  }

  // The CLI's layer, flight by flight (in pieces of 1 to 64 bytes when asked).
  mqttauth::cli::TlsLayer layer(with_keys ? &keys : nullptr);
  Out out;
  std::uint64_t offset[2] = {0, 0};
  for (const auto& [client, b] : flights) {
    std::uint64_t& off = offset[client ? 1 : 0];
    if (!pieces) {
      layer.feed(client, b, off, out);
      off += b.size();
      continue;
    }
    for (std::size_t at = 0; at < b.size();) {
      const std::size_t n = std::min<std::size_t>(b.size() - at, 1 + b[at] % 64);
      layer.feed(client, b.subspan(at, n), off, out);
      off += n;
      at += n;
    }
  }
  layer.lost(true);
  (void)layer.reason();
  return 0;
}
