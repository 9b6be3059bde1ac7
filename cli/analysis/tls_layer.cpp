#include "tls_layer.hpp"

#include <cstdio>

#include "tls_crypto.hpp"

namespace mqttauth::cli {

struct TlsLayer::Side {
  bool client = false;
  tls::RecordReader records;
  tls::HandshakeReader handshake;  // plaintext handshake messages (decrypted ones too, in TLS 1.3)
  bool ccs = false;                // TLS 1.2: ChangeCipherSpec sent, what follows is encrypted
  bool dead = false;               // framing lost or a record that does not open: nothing more of this side
  // TLS 1.3: the handshake and application traffic keys (RFC 8446 7.3).
  std::unique_ptr<tlsc::Aead> hs_key, app_key;
  tlsc::Bytes hs_iv, app_iv, app_secret;
  std::uint64_t hs_seq = 0, app_seq = 0;
  bool app_stage = false;  // the handshake keys are done with (Finished sent), or there are none
  bool app_ok = false;     // a record opened with the application keys already
  // TLS 1.2: one key and IV (4-byte salt for AES-GCM, 12 bytes for ChaCha20-Poly1305), one sequence.
  std::unique_ptr<tlsc::Aead> key;
  tlsc::Bytes iv;
  std::uint64_t seq = 0;
  tlsc::Bytes plain;  // the record being opened
};

TlsLayer::TlsLayer(const tls::KeyLog* keys)
    : keys_(keys), client_(std::make_unique<Side>()), server_(std::make_unique<Side>()) {
  client_->client = true;
}

TlsLayer::~TlsLayer() = default;

void TlsLayer::give_up(std::string why) {
  state_ = State::opaque;
  reason_ = std::move(why);
}

void TlsLayer::feed(bool from_client, std::span<const std::uint8_t> bytes, std::uint64_t /*offset*/, Out& out) {
  Side& s = from_client ? *client_ : *server_;
  if (s.dead || state_ == State::opaque) return;
  s.records.push(bytes);
  tls::Record r;
  while (state_ != State::opaque && !s.dead) {
    const auto st = s.records.next(r);
    if (st == tls::RecordReader::Status::need_more) break;
    if (st == tls::RecordReader::Status::error) {
      s.dead = true;
      std::string why = std::string(s.records.error()) + " at stream offset " +
                        std::to_string(s.records.error_offset()) + (from_client ? " (client)" : " (server)");
      if (state_ == State::hello)
        give_up(why);
      else if (reason_.empty())
        reason_ = why;
      break;
    }
    ++records_;
    on_record(s, r, out);
  }
}

void TlsLayer::lost(bool from_client) {
  Side& s = from_client ? *client_ : *server_;
  if (s.dead) return;
  s.dead = true;
  const std::string why = std::string("bytes missing in the TLS stream (") + (from_client ? "client" : "server") + ")";
  if (state_ == State::hello)
    give_up(why + ", before the handshake was seen");
  else if (reason_.empty())
    reason_ = why + ": the rest of that direction is not decrypted";
}

void TlsLayer::on_record(Side& s, const tls::Record& r, Out& out) {
  using tls::ContentType;
  const bool tls13 = version_ == tls::kTls13;
  switch (static_cast<ContentType>(r.type)) {
    case ContentType::handshake:
      if (!s.ccs) {
        s.handshake.push(r.fragment);
        handshake_messages(s, false);
      } else if (state_ == State::decrypting) {
        open12(s, r, out);  // TLS 1.2 Finished
      }
      return;
    case ContentType::change_cipher_spec:
      if (!tls13 && have_server_hello_) {
        s.ccs = true;
        s.seq = 0;
      }
      return;  // (TLS 1.3: the middlebox-compatibility CCS, meaningless)
    case ContentType::application_data:
      if (state_ != State::decrypting) return;
      if (tls13)
        open13(s, r, out);
      else if (s.ccs)
        open12(s, r, out);
      return;
    case ContentType::alert:
      if (state_ == State::decrypting && !tls13 && s.ccs) open12(s, r, out);
      return;
    case ContentType::heartbeat: return;
  }
}

void TlsLayer::handshake_messages(Side& s, bool encrypted) {
  std::uint8_t type = 0;
  std::span<const std::uint8_t> body;
  while (s.handshake.next(type, body)) {
    switch (static_cast<tls::HandshakeType>(type)) {
      case tls::HandshakeType::client_hello:
        if (s.client && !encrypted) {
          if (auto ch = tls::parse_client_hello(body)) {
            client_random_ = ch->random;
            have_client_hello_ = true;
            if (!ch->server_name.empty()) sni_ = ch->server_name;
          }
        }
        break;
      case tls::HandshakeType::server_hello:
        if (!s.client && !encrypted) {
          auto sh = tls::parse_server_hello(body);
          if (!sh) {
            give_up("a ServerHello that does not parse");
            return;
          }
          if (sh->hello_retry) break;  // a second ClientHello and the real ServerHello follow
          server_random_ = sh->random;
          version_ = sh->version;
          suite_ = sh->suite;
          have_server_hello_ = true;
          setup();
        }
        break;
      case tls::HandshakeType::finished:
        if (encrypted && version_ == tls::kTls13) s.app_stage = true;
        break;
      case tls::HandshakeType::key_update:
        if (encrypted && version_ == tls::kTls13 && s.app_key) {
          // The next generation of this side's traffic secret (RFC 8446 7.2).
          const tls::Suite* su = tls::find_suite(suite_);
          s.app_secret = tlsc::hkdf_expand_label(su->hash, s.app_secret, "traffic upd", {}, tls::hash_length(su->hash));
          auto k = tlsc::hkdf_expand_label(su->hash, s.app_secret, "key", {}, tls::key_length(su->aead));
          s.app_iv = tlsc::hkdf_expand_label(su->hash, s.app_secret, "iv", {}, 12);
          s.app_key = std::make_unique<tlsc::Aead>(su->aead, k);
          s.app_seq = 0;
        }
        break;
      default: break;
    }
    if (state_ == State::opaque) return;
  }
}

void TlsLayer::setup() {
  const std::string v = tls::version_name(version_);
  if (!have_client_hello_) return give_up(v + ", the ClientHello is not in the capture (no client random)");
  if (version_ != tls::kTls12 && version_ != tls::kTls13) return give_up(v + " is not decrypted (TLS 1.2 and 1.3 are)");
  const tls::Suite* su = tls::find_suite(suite_);
  if (!su || su->tls13 != (version_ == tls::kTls13)) {
    char b[80];
    std::snprintf(b, sizeof b, ", cipher suite 0x%04x cannot be decrypted (AEAD suites only)", suite_);
    return give_up(v + b);
  }
  if (!keys_ || keys_->empty()) return give_up(v + ", no key log (--tls-keylog FILE, or a pcapng with its secrets)");
  const tls::KeyLog::Secrets* sec = keys_->find(client_random_);
  if (!sec) return give_up(v + ", no key for this client random");
  const std::size_t kl = tls::key_length(su->aead);
  if (version_ == tls::kTls13) {
    if (sec->client_traffic.empty() || sec->server_traffic.empty())
      return give_up(v + ", the key log has no traffic secrets for this client random");
    for (Side* s : {client_.get(), server_.get()}) {
      const auto& hs = s->client ? sec->client_handshake : sec->server_handshake;
      const auto& app = s->client ? sec->client_traffic : sec->server_traffic;
      if (!hs.empty()) {
        s->hs_key = std::make_unique<tlsc::Aead>(su->aead, tlsc::hkdf_expand_label(su->hash, hs, "key", {}, kl));
        s->hs_iv = tlsc::hkdf_expand_label(su->hash, hs, "iv", {}, 12);
      } else {
        s->app_stage = true;  // no handshake keys: its encrypted handshake records are passed over
      }
      s->app_secret = app;
      s->app_key = std::make_unique<tlsc::Aead>(su->aead, tlsc::hkdf_expand_label(su->hash, app, "key", {}, kl));
      s->app_iv = tlsc::hkdf_expand_label(su->hash, app, "iv", {}, 12);
      if (!s->app_key->valid() || s->app_iv.size() != 12 || (s->hs_key && !s->hs_key->valid()))
        return give_up(v + ", the traffic keys cannot be derived");
    }
  } else {
    if (sec->master.size() != 48) return give_up(v + ", no master secret for this client random");
    const std::size_t ivl = su->aead == tls::Aead::chacha20_poly1305 ? 12 : 4;
    tlsc::Bytes seed(server_random_.begin(), server_random_.end());
    seed.insert(seed.end(), client_random_.begin(), client_random_.end());
    const tlsc::Bytes kb = tlsc::tls12_prf(su->hash, sec->master, "key expansion", seed, 2 * kl + 2 * ivl);
    if (kb.size() != 2 * kl + 2 * ivl) return give_up(v + ", the key block cannot be derived");
    const tlsc::View all(kb);
    client_->key = std::make_unique<tlsc::Aead>(su->aead, all.subspan(0, kl));
    server_->key = std::make_unique<tlsc::Aead>(su->aead, all.subspan(kl, kl));
    client_->iv.assign(kb.begin() + static_cast<std::ptrdiff_t>(2 * kl),
                       kb.begin() + static_cast<std::ptrdiff_t>(2 * kl + ivl));
    server_->iv.assign(kb.begin() + static_cast<std::ptrdiff_t>(2 * kl + ivl), kb.end());
  }
  state_ = State::decrypting;
}

void TlsLayer::open13(Side& s, const tls::Record& r, Out& out) {
  const auto n = r.fragment.size();
  const std::uint8_t aad[5] = {r.type, static_cast<std::uint8_t>(r.version >> 8), static_cast<std::uint8_t>(r.version),
                               static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  auto deliver = [&](bool encrypted_handshake_ok) {
    ++opened_;
    const tls::Inner in = tls::inner_plaintext(s.plain);
    const std::span<const std::uint8_t> content(s.plain.data(), in.length);
    if (in.type == static_cast<std::uint8_t>(tls::ContentType::application_data)) {
      if (!content.empty()) out.plaintext(s.client, content);
    } else if (in.type == static_cast<std::uint8_t>(tls::ContentType::handshake) && encrypted_handshake_ok) {
      s.handshake.push(content);
      handshake_messages(s, true);
    }
  };
  if (!s.app_stage && s.hs_key) {
    const auto nonce = tls::xor_nonce(s.hs_iv, s.hs_seq);
    if (s.hs_key->open(nonce, aad, r.fragment, s.plain)) {
      ++s.hs_seq;
      deliver(true);
      return;
    }
  }
  const auto nonce = tls::xor_nonce(s.app_iv, s.app_seq);
  if (s.app_key && s.app_key->open(nonce, aad, r.fragment, s.plain)) {
    ++s.app_seq;
    s.app_ok = s.app_stage = true;
    deliver(true);
    return;
  }
  if (!s.app_ok) return;  // a handshake record without its keys, or 0-RTT data: passed over
  s.dead = true;
  if (reason_.empty())
    reason_ = "TLS 1.3, a record at stream offset " + std::to_string(r.offset) + " does not decrypt (" +
              (s.client ? "client" : "server") + "): the rest of that direction is not decrypted";
}

void TlsLayer::open12(Side& s, const tls::Record& r, Out& out) {
  if (!s.key) return;
  std::span<const std::uint8_t> ct = r.fragment;
  std::array<std::uint8_t, 12> nonce{};
  bool ok = true;
  if (s.iv.size() == 12) {
    nonce = tls::xor_nonce(s.iv, s.seq);
  } else if (ct.size() >= 8 && s.iv.size() == 4) {  // AES-GCM: 4-byte salt + the record's explicit 8 bytes
    std::copy(s.iv.begin(), s.iv.end(), nonce.begin());
    std::copy(ct.begin(), ct.begin() + 8, nonce.begin() + 4);
    ct = ct.subspan(8);
  } else {
    ok = false;
  }
  if (ok && ct.size() >= 16) {
    const auto aad = tls::tls12_aad(s.seq, r.type, r.version, static_cast<std::uint16_t>(ct.size() - 16));
    ok = s.key->open(nonce, aad, ct, s.plain);
  } else {
    ok = false;
  }
  if (!ok) {
    s.dead = true;
    if (reason_.empty())
      reason_ = "TLS 1.2, a record at stream offset " + std::to_string(r.offset) + " does not decrypt (" +
                (s.client ? "client" : "server") + "): the rest of that direction is not decrypted";
    return;
  }
  ++s.seq;
  ++opened_;
  if (r.type == static_cast<std::uint8_t>(tls::ContentType::application_data) && !s.plain.empty())
    out.plaintext(s.client, s.plain);
}

}  // namespace mqttauth::cli
