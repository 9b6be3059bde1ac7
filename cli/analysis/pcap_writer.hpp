// Writing captures: pcap and pcapng files, frames built from TCP segments (Ethernet with VLAN tags, Linux
// cooked v1/v2, BSD loopback, raw IP; IPv4 with optional fragmentation, IPv6), and a TCP conversation helper
// that keeps sequence numbers. Used by the tests, the capture generator and the synthetic capture tool.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "capture_file.hpp"
#include "netparse.hpp"

namespace mqttauth::cli {

struct LinkSpec {
  std::uint32_t link_type = kLinkEthernet;
  std::vector<std::uint16_t> vlans;  // Ethernet only: 802.1Q tags, outermost first (QinQ uses 0x88A8 first)
};

// One frame carrying one TCP segment.
std::vector<std::uint8_t> build_tcp_frame(const LinkSpec& link, const Endpoint& src, const Endpoint& dst,
                                          std::uint32_t seq, std::uint32_t ack, std::uint8_t flags,
                                          std::span<const std::uint8_t> payload, std::uint16_t ip_id = 0);
// The IPv4 datagram of a TCP segment split in fragments of at most `frag_payload` bytes (a multiple of 8),
// each wrapped in `link`.
std::vector<std::vector<std::uint8_t>> build_fragmented_tcp(const LinkSpec& link, const Endpoint& src,
                                                            const Endpoint& dst, std::uint32_t seq, std::uint32_t ack,
                                                            std::uint8_t flags, std::span<const std::uint8_t> payload,
                                                            std::uint16_t ip_id, std::size_t frag_payload);

class CaptureWriter {
 public:
  virtual ~CaptureWriter() = default;
  // `orig_len` 0 means data.size(); a larger value records a frame cut by the snap length.
  virtual bool write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len = 0,
                     std::uint32_t interface = 0) = 0;
  virtual bool close() = 0;
};

class PcapWriter final : public CaptureWriter {
 public:
  PcapWriter() = default;
  ~PcapWriter() override { close(); }
  bool open(const std::string& path, std::uint32_t link_type, bool nanos = false, std::uint32_t snaplen = 262144);
  bool write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len = 0,
             std::uint32_t interface = 0) override;
  bool close() override;

 private:
  std::FILE* f_ = nullptr;
  bool nanos_ = false;
};

class PcapngWriter final : public CaptureWriter {
 public:
  PcapngWriter() = default;
  ~PcapngWriter() override { close(); }
  bool open(const std::string& path);
  // Adds an interface (nanosecond timestamps); returns its id.
  std::uint32_t add_interface(std::uint32_t link_type, std::uint32_t snaplen = 262144);
  bool write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len = 0,
             std::uint32_t interface = 0) override;
  bool close() override;

 private:
  void block(std::uint32_t type, const std::vector<std::uint8_t>& body);
  std::FILE* f_ = nullptr;
  std::uint32_t ifaces_ = 0;
};

// A TCP connection between a client and a server, keeping sequence numbers, written to a capture.
class TcpConversation {
 public:
  TcpConversation(CaptureWriter& out, LinkSpec link, Endpoint client, Endpoint server, std::uint32_t client_isn = 1000,
                  std::uint32_t server_isn = 5000);
  void handshake(std::int64_t ts_ns);  // SYN, SYN-ACK, ACK
  // Sends `payload` from the client (or server) in segments of at most `mss` bytes.
  void send(bool from_client, std::span<const std::uint8_t> payload, std::int64_t ts_ns, std::size_t mss = 1460);
  void close(std::int64_t ts_ns);  // FIN from both sides, and the last ACK
  void reset(bool from_client, std::int64_t ts_ns);
  // Writes one segment at an explicit sequence number without moving the conversation's counters
  // (retransmissions, out-of-order and overlapping segments).
  void raw_segment(bool from_client, std::uint32_t seq, std::span<const std::uint8_t> payload, std::int64_t ts_ns,
                   std::uint8_t flags = tcpflag::ack | tcpflag::psh);
  std::uint32_t next_seq(bool from_client) const { return from_client ? cseq_ : sseq_; }
  // Advances a side's sequence number as if `n` bytes were sent but not captured (a lost segment).
  void lose(bool from_client, std::uint32_t n) { (from_client ? cseq_ : sseq_) += n; }

 private:
  CaptureWriter& out_;
  LinkSpec link_;
  Endpoint c_, s_;
  std::uint32_t cseq_, sseq_;
  std::uint16_t ip_id_ = 1;
};

}  // namespace mqttauth::cli
