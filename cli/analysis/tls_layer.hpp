// TLS between TCP reassembly and what it carries (MQTT, or MQTT over WebSocket), for one connection: both
// directions' records (codec/tls.hpp), the hellos that say version, suite and randoms, and, when the key log
// has this client random's secrets, the records opened (tls_crypto.hpp) and their application data passed on in
// order. A connection that cannot be decrypted says why (no key log, no key for this client random, a suite
// without AEAD, the handshake not in the capture), never guessed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mqttauth/tls.hpp"

namespace mqttauth::cli {

class TlsLayer {
 public:
  class Out {
   public:
    virtual ~Out() = default;
    // Decrypted application data of one direction, in order.
    virtual void plaintext(bool from_client, std::span<const std::uint8_t> bytes) = 0;
  };
  enum class State : std::uint8_t { hello, decrypting, opaque };

  // `keys` may be null (no key log); it must outlive the layer.
  explicit TlsLayer(const tls::KeyLog* keys);
  ~TlsLayer();
  TlsLayer(const TlsLayer&) = delete;
  TlsLayer& operator=(const TlsLayer&) = delete;

  // One direction's TCP bytes from `offset` on, in order.
  void feed(bool from_client, std::span<const std::uint8_t> bytes, std::uint64_t offset, Out& out);
  // Bytes are missing in a direction: its records cannot be followed any more.
  void lost(bool from_client);

  State state() const noexcept { return state_; }
  // Why the connection is not (or no longer) decrypted; empty while it is or may still be.
  const std::string& reason() const noexcept { return reason_; }
  std::uint16_t version() const noexcept { return version_; }
  std::uint16_t suite() const noexcept { return suite_; }
  const std::string& server_name() const noexcept { return sni_; }
  std::uint64_t records() const noexcept { return records_; }
  std::uint64_t opened() const noexcept { return opened_; }

 private:
  struct Side;
  void setup();
  void give_up(std::string why);
  void on_record(Side& s, const tls::Record& r, Out& out);
  void open13(Side& s, const tls::Record& r, Out& out);
  void open12(Side& s, const tls::Record& r, Out& out);
  void handshake_messages(Side& s, bool encrypted);

  const tls::KeyLog* keys_;
  std::unique_ptr<Side> client_, server_;
  State state_ = State::hello;
  std::string reason_;
  bool have_client_hello_ = false, have_server_hello_ = false;
  tls::Random client_random_{}, server_random_{};
  std::uint16_t version_ = 0, suite_ = 0;
  std::string sni_;
  std::uint64_t records_ = 0, opened_ = 0;
};

}  // namespace mqttauth::cli
