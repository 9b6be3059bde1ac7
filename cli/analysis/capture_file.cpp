#include "capture_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace mqttauth::cli {
namespace {

constexpr std::size_t kBlock = 1 << 20;   // read size (a buffer that stays in the caches)
constexpr std::size_t kWindow = 4 << 20;  // mapped at a time
constexpr std::uintptr_t kPage = 4096;

// The windows mapped now, by every reader of every thread, for the SIGBUS handler: a file truncated by another
// program while it is mapped raises SIGBUS where its pages are gone. The handler maps a page of zeros there
// and marks the window cut; the reader sees the mark (CaptureReader::cut_short) and reports the file truncated.
struct Window {
  std::atomic<bool> used{false};
  std::atomic<std::uintptr_t> begin{0}, end{0};
  std::atomic<bool> cut{false};
};
std::array<Window, 64> windows;
struct sigaction previous_sigbus {};

void on_sigbus(int, siginfo_t* si, void*) {
  const auto a = reinterpret_cast<std::uintptr_t>(si->si_addr);
  for (Window& w : windows) {
    if (a < w.begin.load(std::memory_order_relaxed) || a >= w.end.load(std::memory_order_relaxed)) continue;
    void* page = reinterpret_cast<void*>(a & ~(kPage - 1));  // NOLINT(performance-no-int-to-ptr)
    if (::mmap(page, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) break;
    w.cut.store(true, std::memory_order_relaxed);
    return;  // the access is made again, and reads zeros
  }
  // Not a mapped capture: as without this handler (the access faults again and meets the previous one).
  ::sigaction(SIGBUS, &previous_sigbus, nullptr);
}

// A free window slot (-1: none; the reader reads instead), the handler installed the first time.
int take_window() noexcept {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return ::sigaction(SIGBUS, &sa, &previous_sigbus) == 0;
  }();
  if (!installed) return -1;
  for (std::size_t i = 0; i < windows.size(); ++i) {
    bool expected = false;
    if (windows[i].used.compare_exchange_strong(expected, true)) {
      windows[i].cut.store(false);
      return static_cast<int>(i);
    }
  }
  return -1;
}
constexpr std::uint32_t kPcapngShb = 0x0A0D0D0A;
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4D;

std::string at(std::uint64_t frame, std::uint64_t offset) {
  return "frame " + std::to_string(frame) + ", byte offset " + std::to_string(offset);
}

}  // namespace

CaptureReader::~CaptureReader() {
  unmap();
  if (window_ >= 0) windows[static_cast<std::size_t>(window_)].used.store(false);
  if (f_) std::fclose(f_);
}

bool CaptureReader::window_cut(int window) noexcept {
  return windows[static_cast<std::size_t>(window)].cut.load(std::memory_order_relaxed);
}

void CaptureReader::unmap() noexcept {
  if (!map_) return;
  Window& w = windows[static_cast<std::size_t>(window_)];
  w.begin.store(0);
  w.end.store(0);
  ::munmap(map_, map_len_);
  map_ = nullptr;
  map_len_ = 0;
}

bool CaptureReader::remap(std::size_t need) {
  const std::uint64_t at = consumed_;  // the file offset of data_[pos_]
  if (at + need > file_size_) {        // it may have grown (--follow)
    struct stat st {};
    if (::fstat(fileno(f_), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > file_size_)
      file_size_ = static_cast<std::uint64_t>(st.st_size);
  }
  const std::uint64_t start = at & ~std::uint64_t{kPage - 1};
  const std::uint64_t end = std::min<std::uint64_t>(file_size_, at + std::max<std::uint64_t>(need, kWindow));
  if (map_ && map_off_ <= start && map_off_ + map_len_ >= end) return len_ - pos_ >= need;  // nothing more to map
  unmap();
  data_ = nullptr;
  pos_ = len_ = 0;
  prefetched_ = 0;
  if (end <= start) return need == 0;
  if (window_ < 0) window_ = take_window();
  void* m = window_ < 0 ? MAP_FAILED
                        : ::mmap(nullptr, static_cast<std::size_t>(end - start), PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                                 fileno(f_), static_cast<off_t>(start));
  if (m == MAP_FAILED) {
    read_from_here();
    return refill(need);
  }
  map_ = static_cast<std::uint8_t*>(m);
  map_len_ = static_cast<std::size_t>(end - start);
  map_off_ = start;
  Window& w = windows[static_cast<std::size_t>(window_)];
  w.begin.store(reinterpret_cast<std::uintptr_t>(map_));
  w.end.store(reinterpret_cast<std::uintptr_t>(map_) + map_len_);
  data_ = map_;
  pos_ = static_cast<std::size_t>(at - start);
  len_ = map_len_;
  return len_ - pos_ >= need;
}

void CaptureReader::read_from_here() {
  unmap();
  if (window_ >= 0) windows[static_cast<std::size_t>(window_)].used.store(false);
  window_ = -1;
  mapped_ = false;
  ::fseeko(f_, static_cast<off_t>(consumed_), SEEK_SET);
  if (buf_.size() < kBlock) buf_.resize(kBlock);
  data_ = buf_.data();
  pos_ = len_ = 0;
  prefetched_ = 0;
  eof_ = false;
}

CaptureReader::Status CaptureReader::cut_short_error() {
  struct stat st {};
  const std::string now =
      ::fstat(fileno(f_), &st) == 0 ? " (now " + std::to_string(st.st_size) + " bytes)" : std::string();
  error_ = path_ + ": the file was cut short while it was being read" + now + ": it ends before the end of " +
           at(frame_ + 1, consumed_);
  return Status::truncated;
}

CaptureReader::Status CaptureReader::fail(Status s, std::string msg) {
  // A mapped file that another program cut short reads as zeros up to the end of its last page: what looks
  // truncated or corrupt there is said to be that.
  if (shrank()) return cut_short_error();
  error_ = path_ + ": " + std::move(msg);
  return s;
}

bool CaptureReader::shrank() const noexcept {
  struct stat st {};
  return mapped_ && ::fstat(fileno(f_), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < file_size_;
}

bool CaptureReader::refill(std::size_t need) {
  if (len_ - pos_ >= need) return true;
  if (mapped_) return remap(need);
  if (pos_ > 0) {
    std::memmove(buf_.data(), data_ + pos_, len_ - pos_);
    len_ -= pos_;
    pos_ = 0;
  }
  if (buf_.size() < need) buf_.resize(std::max(need, kBlock));
  data_ = buf_.data();
  prefetched_ = 0;
  while (len_ < need && !eof_) {
    std::size_t n = std::fread(buf_.data() + len_, 1, buf_.size() - len_, f_);
    if (n == 0) eof_ = true;
    len_ += n;
  }
  return len_ - pos_ >= need;
}

std::uint16_t CaptureReader::rd16(const std::uint8_t* p) const noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return swapped_ ? static_cast<std::uint16_t>((v >> 8) | (v << 8)) : v;
}

std::uint32_t CaptureReader::rd32(const std::uint8_t* p) const noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped_ ? __builtin_bswap32(v) : v;
}

bool CaptureReader::open(const std::string& path) {
  path_ = path;
  if (path == "-") {  // standard input: read as a stream
    const int fd = ::dup(STDIN_FILENO);
    f_ = fd >= 0 ? ::fdopen(fd, "rb") : nullptr;
    if (!f_ && fd >= 0) ::close(fd);
    path_ = "(standard input)";
  } else {
    f_ = std::fopen(path.c_str(), "rb");
  }
  if (!f_) {
    error_ = path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fileno(f_), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      error_ = path + ": is a directory";
      return false;
    }
    file_size_ = static_cast<std::uint64_t>(st.st_size);
    mapped_ = path != "-" && S_ISREG(st.st_mode);
  }
  if (!mapped_) {
    buf_.resize(kBlock);
    data_ = buf_.data();
  }
  if (!fill(4)) {
    error_ = len_ == 0 ? path + ": empty file, not a capture"
                       : path + ": not a capture file (" + std::to_string(len_) + " bytes, too short for a header)";
    return false;
  }
  std::uint32_t magic;
  std::memcpy(&magic, data_, 4);
  if (magic == kPcapngShb) {
    format_ = Format::pcapng;  // the section header block is read by next_pcapng
    return true;
  }
  switch (magic) {
    case 0xA1B2C3D4: break;
    case 0xD4C3B2A1: swapped_ = true; break;
    case 0xA1B23C4D: nanos_ = true; break;
    case 0x4D3CB2A1: swapped_ = nanos_ = true; break;
    default: error_ = path + ": not a capture file (unknown magic number; pcap and pcapng are supported)"; return false;
  }
  format_ = Format::pcap;
  frac_ns_ = nanos_ ? 1 : 1000;
  if (!fill(24)) {
    error_ = path + ": truncated pcap file header (" + std::to_string(len_) + " of 24 bytes)";
    return false;
  }
  snaplen_ = rd32(data_ + 16);
  link_type_ = rd32(data_ + 20) & 0x0FFFFFFFu;  // the upper bits carry FCS information
  pos_ += 24;
  consumed_ += 24;
  return true;
}

void CaptureReader::resume() noexcept {
  eof_ = false;
  if (f_) std::clearerr(f_);
}

CaptureReader::Status CaptureReader::next_general(CaptureRecord& rec) {
  if (format_ == Format::pcap) return next_pcap(rec);
  if (format_ == Format::pcapng) return next_pcapng(rec);
  return Status::end;
}

CaptureReader::Status CaptureReader::next_pcap(CaptureRecord& rec) {
  if (!fill(16)) {
    if (len_ == pos_) return Status::end;
    return fail(Status::truncated, "file ends inside the record header of " + at(frame_ + 1, consumed_) + " (" +
                                       std::to_string(len_ - pos_) + " of 16 bytes)");
  }
  const std::uint8_t* h = data_ + pos_;
  std::uint32_t sec = rd32(h), frac = rd32(h + 4), incl = rd32(h + 8), orig = rd32(h + 12);
  if (sec == 0 && incl == 0 && shrank()) return cut_short_error();  // (zeros: perhaps past a cut; see fail())
  if (incl > kMaxRecord)
    return fail(Status::corrupt,
                "record length " + std::to_string(incl) + " is absurd at " + at(frame_ + 1, consumed_));
  if (!fill(16 + std::size_t{incl}))
    return fail(Status::truncated, "file ends inside " + at(frame_ + 1, consumed_) + " (" +
                                       std::to_string(len_ - pos_ - 16) + " of " + std::to_string(incl) +
                                       " bytes captured)");
  if (cut_short(pos_ + 16 + std::size_t{incl})) return cut_short_error();
  rec.frame = ++frame_;
  rec.ts_ns = static_cast<std::int64_t>(sec) * 1000000000 + static_cast<std::int64_t>(frac) * (nanos_ ? 1 : 1000);
  rec.link_type = link_type_;
  rec.interface = 0;
  rec.orig_len = orig;
  rec.file_offset = consumed_;
  rec.data = std::span<const std::uint8_t>(data_ + pos_ + 16, incl);
  pos_ += 16 + std::size_t{incl};
  consumed_ += 16 + std::uint64_t{incl};
  prefetch_ahead();
  return Status::record;
}

namespace {

// A pcapng timestamp (units of the interface's resolution, plus its offset in seconds) in nanoseconds;
// saturating, so that absurd timestamps (a corrupt block, a huge offset) do not overflow.
std::int64_t pcapng_ns(std::uint64_t units_per_s, std::int64_t offset_s, std::uint32_t hi, std::uint32_t lo) {
  std::uint64_t units = (std::uint64_t{hi} << 32) | lo;
  std::uint64_t per = units_per_s ? units_per_s : 1000000;
  constexpr std::int64_t kMaxSec = 9'000'000'000;  // about year 2255
  std::uint64_t usec = units / per;
  std::int64_t sec = usec > static_cast<std::uint64_t>(kMaxSec) ? kMaxSec : static_cast<std::int64_t>(usec);
  sec += std::clamp<std::int64_t>(offset_s, -kMaxSec, kMaxSec);
  sec = std::clamp<std::int64_t>(sec, -kMaxSec, kMaxSec);
  auto rem = units % per;
  auto ns = static_cast<std::int64_t>(static_cast<unsigned __int128>(rem) * 1000000000u / per);
  return sec * 1000000000 + ns;
}

// if_tsresol: units per second; 0 when the option is out of range.
std::uint64_t pcapng_resolution(std::uint8_t r) {
  std::uint64_t per = 1;
  if (r & 0x80u) {
    unsigned e = r & 0x7Fu;
    return e < 64 ? (std::uint64_t{1} << e) : 0;
  }
  for (unsigned k = 0; k < r && per <= 1000000000000000000ull; ++k) per *= 10;
  return per;
}

constexpr std::uint32_t kPcapngIdb = 1, kPcapngPb = 2, kPcapngSpb = 3, kPcapngEpb = 6, kPcapngDsb = 10;
// A Decryption Secrets Block's TLS secrets: an NSS key log (pcapng specification, section 4.7).
constexpr std::uint32_t kSecretsTlsKeyLog = 0x544c534b;

}  // namespace

std::string CaptureReader::where(std::uint64_t off) const {
  return "byte offset " + std::to_string(off) + " (before frame " + std::to_string(frame_ + 1) + ")";
}

bool CaptureReader::section_header() noexcept {
  std::uint32_t bom;
  std::memcpy(&bom, data_ + pos_ + 8, 4);
  if (bom == kByteOrderMagic)
    swapped_ = false;
  else if (bom == __builtin_bswap32(kByteOrderMagic))
    swapped_ = true;
  else
    return false;
  ifaces_.clear();
  return true;
}

CaptureReader::Status CaptureReader::next_pcapng_block(Block& block) {
  if (!fill(8)) {
    if (len_ == pos_) return Status::end;
    return fail(Status::truncated, "file ends inside a block header at " + where(consumed_) + "; " +
                                       std::to_string(len_ - pos_) + " of 8 bytes");
  }
  std::uint32_t raw_type;
  std::memcpy(&raw_type, data_ + pos_, 4);
  if (raw_type == kPcapngShb) {
    // A new section: its byte order comes from its byte-order magic.
    if (!fill(12)) return fail(Status::truncated, "file ends inside a section header at " + where(consumed_));
    if (!section_header())
      return fail(Status::corrupt, "bad byte-order magic in the section header at " + where(consumed_));
  }
  const std::uint8_t* b = data_ + pos_;
  std::uint32_t type = rd32(b), total = rd32(b + 4);
  if (total < 12 || total % 4 != 0 || total > kMaxRecord)
    return fail(Status::corrupt, "block length " + std::to_string(total) + " is invalid at " + where(consumed_));
  if (!fill(total)) {
    const std::string have = std::to_string(len_ - pos_) + " of " + std::to_string(total);
    if (type == kPcapngEpb || type == kPcapngPb || type == kPcapngSpb)
      return fail(Status::truncated,
                  "file ends inside " + at(frame_ + 1, consumed_) + " (" + have + " bytes of its block)");
    return fail(Status::truncated, "file ends inside a block at " + where(consumed_) + "; " + have + " bytes");
  }
  if (cut_short(pos_ + total)) return cut_short_error();
  block = Block{type, data_ + pos_ + 8, total - 12u, consumed_};
  pos_ += total;
  consumed_ += total;
  return Status::record;
}

CaptureReader::Status CaptureReader::next_pcapng(CaptureRecord& rec) {
  while (true) {
    Block b{};
    if (Status s = next_pcapng_block(b); s != Status::record) return s;
    switch (b.type) {
      case kPcapngIdb:
        if (Status s = interface_block(b); s != Status::record) return s;
        continue;
      case kPcapngEpb:
      case kPcapngPb: return packet_block(b, rec);
      case kPcapngSpb: return simple_packet_block(b, rec);
      case kPcapngDsb:
        // Secrets type, length, then the secrets; TLS key logs are kept for the caller (take_secrets()).
        if (b.body_len >= 8 && rd32(b.body) == kSecretsTlsKeyLog) {
          const std::uint32_t n = rd32(b.body + 4);
          if (n <= b.body_len - 8) secrets_.append(reinterpret_cast<const char*>(b.body + 8), n);
        }
        continue;
      default: continue;  // section header, statistics, name resolution, custom blocks: nothing to deliver
    }
  }
}

// Interface Description Block: link type, snap length, options if_tsresol and if_tsoffset.
CaptureReader::Status CaptureReader::interface_block(const Block& b) {
  if (b.body_len < 8) return fail(Status::corrupt, "short interface block at " + where(b.offset));
  const std::uint8_t* body = b.body;
  Interface i;
  i.link_type = rd16(body);
  i.snaplen = rd32(body + 4);
  // Options: code (2), length (2), value padded to 4.
  std::size_t p = 8;
  while (p + 4 <= b.body_len) {
    std::uint16_t code = rd16(body + p), olen = rd16(body + p + 2);
    if (code == 0 || p + 4 + olen > b.body_len) break;
    const std::uint8_t* v = body + p + 4;
    if (code == 9 && olen >= 1) {  // if_tsresol
      std::uint64_t per = pcapng_resolution(v[0]);
      i.ts_units_per_s = per ? per : 1000000;
    } else if (code == 14 && olen >= 8) {  // if_tsoffset
      std::uint64_t off;
      std::memcpy(&off, v, 8);
      if (swapped_) off = __builtin_bswap64(off);
      i.ts_offset_s = static_cast<std::int64_t>(off);
    }
    p += 4 + ((olen + 3u) & ~3u);
  }
  ifaces_.push_back(i);
  return Status::record;
}

// Enhanced Packet Block, or the obsolete Packet Block.
CaptureReader::Status CaptureReader::packet_block(const Block& b, CaptureRecord& rec) {
  const std::uint8_t* body = b.body;
  if (b.body_len < 20) return fail(Status::corrupt, "short packet block at " + at(frame_ + 1, b.offset));
  std::uint32_t ifid = b.type == kPcapngEpb ? rd32(body) : rd16(body);
  std::uint32_t hi = rd32(body + 4), lo = rd32(body + 8), cap = rd32(body + 12), orig = rd32(body + 16);
  if (ifid >= ifaces_.size())
    return fail(Status::corrupt, "packet block names interface " + std::to_string(ifid) +
                                     " that was not described, at " + at(frame_ + 1, b.offset));
  if (cap > b.body_len - 20)
    return fail(Status::corrupt,
                "captured length " + std::to_string(cap) + " exceeds its block at " + at(frame_ + 1, b.offset));
  const Interface& i = ifaces_[ifid];
  rec.frame = ++frame_;
  rec.ts_ns = pcapng_ns(i.ts_units_per_s, i.ts_offset_s, hi, lo);
  rec.link_type = i.link_type;
  rec.interface = ifid;
  rec.orig_len = orig;
  rec.file_offset = b.offset;
  rec.data = std::span<const std::uint8_t>(body + 20, cap);
  return Status::record;
}

// Simple Packet Block: interface 0, no timestamp.
CaptureReader::Status CaptureReader::simple_packet_block(const Block& b, CaptureRecord& rec) {
  if (b.body_len < 4 || ifaces_.empty())
    return fail(Status::corrupt, "bad simple packet block at " + at(frame_ + 1, b.offset));
  std::uint32_t orig = rd32(b.body);
  // No captured length: the original length cut by the interface's snap length (the block's padding must not
  // be taken for data).
  std::size_t cap = std::min<std::size_t>(orig, b.body_len - 4);
  if (ifaces_[0].snaplen != 0) cap = std::min<std::size_t>(cap, ifaces_[0].snaplen);
  rec.frame = ++frame_;
  rec.ts_ns = 0;
  rec.link_type = ifaces_[0].link_type;
  rec.interface = 0;
  rec.orig_len = orig;
  rec.file_offset = b.offset;
  rec.data = std::span<const std::uint8_t>(b.body + 4, cap);
  return Status::record;
}

}  // namespace mqttauth::cli
