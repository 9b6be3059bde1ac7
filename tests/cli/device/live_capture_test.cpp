// ConnectionEnds, what `capture --live` waits for before it stops: a connection has ended once both FINs are
// acknowledged (the last ACK captured), or with a RST. The capture itself is tested end to end in
// tests/e2e/live_capture_test.cpp (it needs the privileges to capture).
#include "cli_helpers.hpp"
#include "live_capture.hpp"

using namespace mqttauth::clitest;
using mqttauth::cli::ConnectionEnds;
using mqttauth::cli::TcpSegment;
namespace tcpflag = mqttauth::cli::tcpflag;

namespace {

const Endpoint kClient = ep4(127, 0, 0, 1, 50001), kServer = ep4(127, 0, 0, 1, 1883);

TcpSegment seg(const Endpoint& src, const Endpoint& dst, std::uint32_t seq, std::uint32_t ack, std::uint8_t flags,
               std::uint32_t len = 0) {
  TcpSegment s;
  s.src = src;
  s.dst = dst;
  s.seq = seq;
  s.ack = ack;
  s.flags = flags;
  s.payload_wire_len = len;
  return s;
}

// SYN, SYN-ACK, ACK and 10 bytes each way: the client's next sequence number is 111, the server's 511.
void open_and_talk(ConnectionEnds& e, const Endpoint& c = kClient, const Endpoint& s = kServer) {
  e.add(seg(c, s, 100, 0, tcpflag::syn));
  e.add(seg(s, c, 500, 101, tcpflag::syn | tcpflag::ack));
  e.add(seg(c, s, 101, 501, tcpflag::ack));
  e.add(seg(c, s, 101, 501, tcpflag::ack | tcpflag::psh, 10));
  e.add(seg(s, c, 501, 111, tcpflag::ack | tcpflag::psh, 10));
}

}  // namespace

TEST(ConnectionEnds, EndsOnlyWithTheLastAckOfAFourWayClose) {
  ConnectionEnds e;
  open_and_talk(e);
  EXPECT_EQ(e.seen(), 1u);
  EXPECT_EQ(e.open(), 1u);
  e.add(seg(kServer, kClient, 511, 111, tcpflag::fin | tcpflag::ack));  // the server closes first
  e.add(seg(kClient, kServer, 111, 512, tcpflag::ack));
  EXPECT_EQ(e.open(), 1u) << "one FIN acknowledged, the client's still to come";
  e.add(seg(kClient, kServer, 111, 512, tcpflag::fin | tcpflag::ack));
  EXPECT_EQ(e.open(), 1u) << "the client's FIN is not acknowledged yet";
  e.add(seg(kServer, kClient, 512, 112, tcpflag::ack));
  EXPECT_EQ(e.open(), 0u);
  EXPECT_EQ(e.seen(), 1u);
}

TEST(ConnectionEnds, FinAckAnsweringAFinEndsWithTheNextAck) {
  ConnectionEnds e;
  open_and_talk(e);
  e.add(seg(kClient, kServer, 111, 511, tcpflag::fin | tcpflag::ack));
  e.add(seg(kServer, kClient, 511, 112, tcpflag::fin | tcpflag::ack));  // acknowledges the client's FIN, sends its own
  EXPECT_EQ(e.open(), 1u);
  e.add(seg(kClient, kServer, 112, 512, tcpflag::ack));
  EXPECT_EQ(e.open(), 0u);
}

TEST(ConnectionEnds, SimultaneousCloseNeedsBothAcks) {
  ConnectionEnds e;
  open_and_talk(e);
  e.add(seg(kClient, kServer, 111, 511, tcpflag::fin | tcpflag::ack));
  e.add(seg(kServer, kClient, 511, 111, tcpflag::fin | tcpflag::ack));  // sent before the client's FIN arrived
  e.add(seg(kClient, kServer, 112, 512, tcpflag::ack));
  EXPECT_EQ(e.open(), 1u);
  e.add(seg(kServer, kClient, 512, 112, tcpflag::ack));
  EXPECT_EQ(e.open(), 0u);
}

TEST(ConnectionEnds, AFinWithDataIsAcknowledgedOnlyPastTheData) {
  ConnectionEnds e;
  open_and_talk(e);
  e.add(seg(kServer, kClient, 511, 111, tcpflag::fin | tcpflag::ack | tcpflag::psh, 20));  // FIN at 531
  e.add(seg(kClient, kServer, 111, 531, tcpflag::fin | tcpflag::ack));  // the data acknowledged, not the FIN
  e.add(seg(kServer, kClient, 532, 112, tcpflag::ack));
  EXPECT_EQ(e.open(), 1u);
  e.add(seg(kClient, kServer, 112, 532, tcpflag::ack));
  EXPECT_EQ(e.open(), 0u);
}

TEST(ConnectionEnds, ResetEndsAtOnce) {
  ConnectionEnds e;
  open_and_talk(e);
  e.add(seg(kServer, kClient, 511, 111, tcpflag::rst | tcpflag::ack));
  EXPECT_EQ(e.open(), 0u);
  e.add(seg(kClient, kServer, 111, 511, tcpflag::ack));  // a late segment does not reopen it
  EXPECT_EQ(e.open(), 0u);
  EXPECT_EQ(e.seen(), 1u);
}

TEST(ConnectionEnds, SequenceNumbersWrapAround) {
  ConnectionEnds e;
  open_and_talk(e);
  e.add(seg(kClient, kServer, 0xFFFFFFFFu, 511, tcpflag::fin | tcpflag::ack));  // FIN ends at 0
  e.add(seg(kServer, kClient, 511, 0xFFFFFFFFu, tcpflag::fin | tcpflag::ack));  // not yet past it
  e.add(seg(kClient, kServer, 0, 512, tcpflag::ack));
  EXPECT_EQ(e.open(), 1u);
  e.add(seg(kServer, kClient, 512, 0, tcpflag::ack));
  EXPECT_EQ(e.open(), 0u);
}

TEST(ConnectionEnds, CountsConnectionsAndANewSynOnAnEndedOne) {
  ConnectionEnds e;
  const Endpoint other = ep4(127, 0, 0, 1, 50002);
  open_and_talk(e);
  open_and_talk(e, other);
  EXPECT_EQ(e.seen(), 2u);
  EXPECT_EQ(e.open(), 2u);
  e.add(seg(kClient, kServer, 111, 511, tcpflag::rst));
  EXPECT_EQ(e.open(), 1u);
  open_and_talk(e);  // the same ports again: a new connection
  EXPECT_EQ(e.seen(), 3u);
  EXPECT_EQ(e.open(), 2u);
}
