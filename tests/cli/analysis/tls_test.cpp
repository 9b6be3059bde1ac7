// TLS decryption with a key log: the key schedule against the RFCs' published vectors, the key log format, and
// the layer against real TLS sessions between OpenSSL peers in memory (TLS 1.2 and 1.3, each AEAD suite; a
// KeyUpdate both ways in TLS 1.3), their key logs written by OpenSSL's own callback.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "../../unit/hex.hpp"
#include "mqttauth/tls.hpp"
#include "tls_crypto.hpp"
#include "tls_layer.hpp"

namespace mqttauth::cli {
namespace {

using test::hex;
using Bytes = std::vector<std::uint8_t>;

TEST(TlsCrypto, HkdfRfc5869TestCase1) {
  const Bytes ikm(22, 0x0b);
  const Bytes salt = hex("000102030405060708090a0b0c");
  const Bytes info = hex("f0f1f2f3f4f5f6f7f8f9");
  const Bytes prk = tlsc::hkdf_extract(tls::Hash::sha256, salt, ikm);
  EXPECT_EQ(prk, hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"));
  EXPECT_EQ(tlsc::hkdf_expand(tls::Hash::sha256, prk, info, 42),
            hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"));
}

// RFC 8448 section 3 (Simple 1-RTT Handshake, TLS_AES_128_GCM_SHA256): the traffic secrets the trace gives,
// and the write keys and IVs it derives from them with HKDF-Expand-Label.
TEST(TlsCrypto, TrafficKeysRfc8448SimpleHandshake) {
  struct Case {
    const char* secret;
    const char* key;
    const char* iv;
  };
  const Case cases[] = {
      // {server} handshake traffic
      {"b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38", "3fce516009c21727d0f2e4e86ee403bc",
       "5d313eb2671276ee13000b30"},
      // {client} handshake traffic
      {"b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21", "dbfaa693d1762c5b666af5d950258d01",
       "5bd3c71b836e0b76bb73265f"},
      // {server} application traffic
      {"a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643", "9f02283b6c9c07efc26bb9f2ac92e356",
       "cf782b88dd83549aadf1e984"},
  };
  for (const Case& c : cases) {
    const Bytes secret = hex(c.secret);
    EXPECT_EQ(tlsc::hkdf_expand_label(tls::Hash::sha256, secret, "key", {}, 16), hex(c.key)) << c.secret;
    EXPECT_EQ(tlsc::hkdf_expand_label(tls::Hash::sha256, secret, "iv", {}, 12), hex(c.iv)) << c.secret;
  }
}

TEST(TlsKeyLog, ReadsTheNssFormat) {
  tls::KeyLog log;
  const std::string r1(64, 'a'), r2(64, '0');
  const std::size_t bad = log.add(
      "# comment\n"
      "CLIENT_RANDOM " +
      r1 + " " + std::string(96, '1') + "\r\n" + "SERVER_TRAFFIC_SECRET_0 " + r2 + " " + std::string(64, 'b') + "\n" +
      "EXPORTER_SECRET " + r2 + " " + std::string(64, 'c') + "\n" + "CLIENT_RANDOM zz 00\n" + "garbage\n");
  EXPECT_EQ(bad, 2u);
  EXPECT_EQ(log.size(), 2u);
  tls::Random a{}, z{};
  a.fill(0xAA);
  const auto* s = log.find(a);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->master, Bytes(48, 0x11));
  const auto* t = log.find(z);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->server_traffic, Bytes(32, 0xBB));
  EXPECT_TRUE(t->master.empty());
}

// ---------------------------------------------------------------- real sessions between OpenSSL peers

// A self-signed P-256 certificate and key, made once.
struct Cert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  Cert() {
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("broker"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
  }
  ~Cert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

std::string g_keylog;  // what OpenSSL's keylog callback wrote (the NSS format)
void keylog_cb(const SSL*, const char* line) { g_keylog += std::string(line) + "\n"; }

struct Wire {
  Bytes c2s, s2c;                               // every byte each side sent, in order
  std::vector<std::pair<bool, Bytes>> flights;  // (from the client?, bytes) in the order they were sent
  std::string to_server, to_client;             // what the applications wrote
};

// A handshake and some application data both ways, between two OpenSSL peers over memory BIOs.
Wire run_session(int version, const char* suite, std::size_t big) {
  static Cert cert;
  g_keylog.clear();
  SSL_CTX* sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  for (SSL_CTX* c : {sctx, cctx}) {
    SSL_CTX_set_min_proto_version(c, version);
    SSL_CTX_set_max_proto_version(c, version);
    if (version == TLS1_3_VERSION)
      SSL_CTX_set_ciphersuites(c, suite);
    else
      SSL_CTX_set_cipher_list(c, suite);
  }
  SSL_CTX_set_keylog_callback(cctx, keylog_cb);
  SSL_CTX_use_certificate(sctx, cert.cert);
  SSL_CTX_use_PrivateKey(sctx, cert.key);
  SSL* s = SSL_new(sctx);
  SSL* c = SSL_new(cctx);
  BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem()), *c_in = BIO_new(BIO_s_mem()),
      *c_out = BIO_new(BIO_s_mem());
  SSL_set_bio(s, s_in, s_out);
  SSL_set_bio(c, c_in, c_out);
  SSL_set_accept_state(s);
  SSL_set_connect_state(c);
  Wire w;
  auto move = [&w](BIO* from, BIO* to, Bytes& log, bool client) {
    char buf[4096];
    int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) {
      log.insert(log.end(), buf, buf + n);
      w.flights.emplace_back(client, Bytes(buf, buf + n));
      BIO_write(to, buf, n);
    }
  };
  auto pump = [&] {
    move(c_out, s_in, w.c2s, true);
    move(s_out, c_in, w.s2c, false);
  };
  for (int i = 0; i < 20 && !(SSL_is_init_finished(s) && SSL_is_init_finished(c)); ++i) {
    SSL_do_handshake(c);
    pump();
    SSL_do_handshake(s);
    pump();
  }
  EXPECT_TRUE(SSL_is_init_finished(s) && SSL_is_init_finished(c));
  char buf[65536];
  auto drain = [&](SSL* ssl, std::string& into) {
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) into.append(buf, static_cast<std::size_t>(n));
  };
  // MQTT-like messages: a CONNECT-sized one, a large one over several records, small ones after.
  std::string got_server, got_client;
  const std::vector<std::string> up = {std::string("\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04"
                                                   "dev1",
                                                   18),
                                       std::string(big, 'x'), "tail-1", "tail-2"};
  const std::vector<std::string> down = {std::string("\x20\x02\x00\x00", 4), std::string(big / 2, 'y'), "bye"};
  for (std::size_t i = 0; i < std::max(up.size(), down.size()); ++i) {
    if (i < up.size()) {
      SSL_write(c, up[i].data(), static_cast<int>(up[i].size()));
      w.to_server += up[i];
    }
    pump();
    drain(s, got_server);
    // TLS 1.3: a KeyUpdate after the large message, the peer's answered with its own (RFC 8446 4.6.3).
    if (i == 1 && version == TLS1_3_VERSION) SSL_key_update(c, SSL_KEY_UPDATE_REQUESTED);
    if (i < down.size()) {
      SSL_write(s, down[i].data(), static_cast<int>(down[i].size()));
      w.to_client += down[i];
    }
    pump();
    drain(c, got_client);
  }
  EXPECT_TRUE(got_server == w.to_server);
  EXPECT_TRUE(got_client == w.to_client);
  SSL_free(s);
  SSL_free(c);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  return w;
}

struct Collect final : TlsLayer::Out {
  std::string c2s, s2c;
  void plaintext(bool from_client, std::span<const std::uint8_t> b) override {
    (from_client ? c2s : s2c).append(b.begin(), b.end());
  }
};

// Feeds what each side sent in the order it was sent (a peer answers only what it received), each flight in
// pieces of at most `chunk` bytes.
void feed(TlsLayer& layer, const Wire& w, std::size_t chunk, Collect& out) {
  std::uint64_t off[2] = {0, 0};
  for (const auto& [client, bytes] : w.flights)
    for (std::size_t i = 0; i < bytes.size(); i += chunk) {
      const std::size_t n = std::min(chunk, bytes.size() - i);
      layer.feed(client, std::span(bytes).subspan(i, n), off[client ? 1 : 0], out);
      off[client ? 1 : 0] += n;
    }
}

struct SuiteCase {
  int version;
  const char* openssl_name;
  std::uint16_t id;
};

class TlsSessions : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(TlsSessions, DecryptsWhatThePeersWroteWithTheirKeyLog) {
  const SuiteCase sc = GetParam();
  const Wire w = run_session(sc.version, sc.openssl_name, 40000);
  tls::KeyLog keys;
  EXPECT_EQ(keys.add(g_keylog), 0u);
  ASSERT_EQ(keys.size(), 1u) << g_keylog;
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{1460}, std::size_t{1} << 20}) {
    TlsLayer layer(&keys);
    Collect out;
    feed(layer, w, chunk, out);
    EXPECT_EQ(layer.state(), TlsLayer::State::decrypting) << layer.reason();
    EXPECT_EQ(layer.reason(), "");
    EXPECT_EQ(layer.suite(), sc.id);
    EXPECT_EQ(layer.version(), sc.version == TLS1_3_VERSION ? tls::kTls13 : tls::kTls12);
    EXPECT_TRUE(out.c2s == w.to_server) << "chunk " << chunk << ": " << out.c2s.size() << " of " << w.to_server.size();
    EXPECT_TRUE(out.s2c == w.to_client) << "chunk " << chunk << ": " << out.s2c.size() << " of " << w.to_client.size();
  }
  // Without a key log, or without this client random in it: said, never guessed.
  const std::string v = sc.version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2";
  {
    TlsLayer layer(nullptr);
    Collect out;
    feed(layer, w, 1460, out);
    EXPECT_EQ(layer.state(), TlsLayer::State::opaque);
    EXPECT_EQ(layer.reason(), v + ", no key log (--tls-keylog FILE, or a pcapng with its secrets)");
    EXPECT_TRUE(out.c2s.empty() && out.s2c.empty());
  }
  {
    tls::KeyLog other;
    other.add("CLIENT_RANDOM " + std::string(64, '5') + " " + std::string(96, '6') + "\n");
    TlsLayer layer(&other);
    Collect out;
    feed(layer, w, 1460, out);
    EXPECT_EQ(layer.reason(), v + ", no key for this client random");
  }
  // A wrong key: the records do not open, and the layer says where.
  if (sc.version == TLS1_2_VERSION) {
    std::string bad = g_keylog;
    bad[bad.size() - 3] = bad[bad.size() - 3] == '0' ? '1' : '0';  // a digit of the master secret
    tls::KeyLog wrong;
    wrong.add(bad);
    TlsLayer layer(&wrong);
    Collect out;
    feed(layer, w, 1460, out);
    EXPECT_NE(layer.reason().find("does not decrypt"), std::string::npos) << layer.reason();
    EXPECT_TRUE(out.c2s.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsSessions,
                         ::testing::Values(SuiteCase{TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0x1301},
                                           SuiteCase{TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", 0x1302},
                                           SuiteCase{TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", 0x1303},
                                           SuiteCase{TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", 0xC02B},
                                           SuiteCase{TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", 0xC02C},
                                           SuiteCase{TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", 0xCCA9}),
                         [](const auto& p) {
                           std::string n = p.param.openssl_name;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace mqttauth::cli
