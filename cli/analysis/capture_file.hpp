// Reading pcap and pcapng capture files record by record, from a mapped window of the file (or with large
// buffered reads where mapping is not possible).
//
// Our own reader rather than libpcap's: libpcap refuses pcapng files whose interfaces have different link
// types, and it stops without telling where when a file is truncated or corrupt. This one gives every record
// its link type, and every problem the file name, frame number and byte offset.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mqttauth::cli {

// Link types (LINKTYPE_* values of the pcap format).
inline constexpr std::uint32_t kLinkNull = 0;
inline constexpr std::uint32_t kLinkEthernet = 1;
inline constexpr std::uint32_t kLinkRaw = 101;
inline constexpr std::uint32_t kLinkLoop = 108;
inline constexpr std::uint32_t kLinkLinuxSll = 113;
inline constexpr std::uint32_t kLinkIpv4 = 228;
inline constexpr std::uint32_t kLinkIpv6 = 229;
inline constexpr std::uint32_t kLinkLinuxSll2 = 276;

struct CaptureRecord {
  std::uint64_t frame = 0;  // 1-based record number in the file
  std::int64_t ts_ns = 0;   // nanoseconds since 1970
  std::uint32_t link_type = 0;
  std::uint32_t interface = 0;         // pcapng interface id (0 for pcap)
  std::uint32_t orig_len = 0;          // length on the wire
  std::uint64_t file_offset = 0;       // where the record starts in the file
  std::span<const std::uint8_t> data;  // the captured bytes (caplen), valid until the next call
};

class CaptureReader {
 public:
  enum class Format : std::uint8_t { unknown, pcap, pcapng };
  enum class Status : std::uint8_t {
    record,     // `rec` holds the next record
    end,        // the end of the file, cleanly
    truncated,  // the file ends inside a record: the records before it were all delivered
    corrupt,    // a header makes no sense (length out of bounds, unknown magic): reading stops
  };

  CaptureReader() = default;
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;
  ~CaptureReader();

  // Opens and checks the file header ("-": standard input). On failure returns false and sets error() ("not a capture file", ...).
  bool open(const std::string& path);
  Status next(CaptureRecord& rec) {
    // A pcap record in the host's byte order that lies whole in the buffer (nearly all of them): read here,
    // inline in the caller's loop; anything else (pcapng, a swapped file, the buffer's end, a length past the
    // limit) by the general path, which reports the problems.
    if (format_ == Format::pcap && !swapped_ && len_ - pos_ >= 16) {
      std::uint32_t h[4];  // seconds, fraction, captured length, original length
      std::memcpy(h, data_ + pos_, 16);
      // (An empty record goes the general way, which looks at it more closely.)
      if (h[2] - 1 < kMaxRecord && h[2] <= len_ - pos_ - 16 && !cut_short(pos_ + 16 + std::size_t{h[2]})) {
        rec.frame = ++frame_;
        rec.ts_ns = static_cast<std::int64_t>(h[0]) * 1000000000 + static_cast<std::int64_t>(h[1]) * frac_ns_;
        rec.link_type = link_type_;
        rec.interface = 0;
        rec.orig_len = h[3];
        rec.file_offset = consumed_;
        rec.data = std::span<const std::uint8_t>(data_ + pos_ + 16, h[2]);
        pos_ += 16 + std::size_t{h[2]};
        consumed_ += 16 + std::uint64_t{h[2]};
        prefetch_ahead();
        return Status::record;
      }
    }
    return next_general(rec);
  }
  // After `end` or `truncated` at the end of a file that is still being written: the next call to next()
  // reads on from the same record, with what was appended since.
  void resume() noexcept;

  Format format() const noexcept { return format_; }
  const std::string& path() const noexcept { return path_; }
  // Human-readable description of the last problem (open failure, truncated or corrupt), with offsets.
  const std::string& error() const noexcept { return error_; }
  std::uint64_t bytes_read() const noexcept { return consumed_; }
  // The TLS key log text of the Decryption Secrets Blocks read since the last call (pcapng).
  std::string take_secrets() { return std::exchange(secrets_, std::string()); }
  bool has_secrets() const noexcept { return !secrets_.empty(); }  // (checked per record: no string moved)
  std::uint64_t file_size() const noexcept { return file_size_; }

 private:
  static constexpr std::uint32_t kMaxRecord = 64u << 20;  // larger records are taken as corruption
  std::string secrets_;                                   // TLS key log text of Decryption Secrets Blocks, until taken
  Status next_general(CaptureRecord& rec);
  // Ensures `need` bytes are buffered from pos_; false at EOF. Inline: it runs twice per record.
  bool fill(std::size_t need) { return len_ - pos_ >= need || refill(need); }
  bool refill(std::size_t need);
  // A regular file is mapped, a window at a time, rather than read: no copy, and the input passes through the
  // caches once instead of twice (read() copies it), leaving them to the analysis's tables: about 5% less time
  // for `stats` on 100 MB (100 interleaved rounds). Pipes and standard input are read.
  bool remap(std::size_t need);
  void unmap() noexcept;
  void read_from_here();  // mapping failed: reading (the file from consumed_) from now on
  // Mapped: whether the file was cut short under the window before data_[end - 1] (another program truncated
  // it while it was mapped). Touching that byte faults when its page is gone; the SIGBUS handler maps zeros
  // there and marks the window, so this is noticed before a record is handed out, instead of a crash.
  bool cut_short(std::size_t end) const noexcept {
    if (window_ < 0) return false;
    const volatile std::uint8_t* last = data_ + end - 1;
    (void)*last;
    return window_cut(window_);
  }
  static bool window_cut(int window) noexcept;
  bool shrank() const noexcept;  // mapped, and the file is shorter now than when it was mapped
  Status cut_short_error();
  std::uint16_t rd16(const std::uint8_t* p) const noexcept;
  std::uint32_t rd32(const std::uint8_t* p) const noexcept;
  Status next_pcap(CaptureRecord& rec);
  // Asks the CPU for the next kPrefetch bytes: the record headers lie hundreds of bytes apart, and without
  // this every one of them waited on memory (a third of the time of a thread that only skips records).
  void prefetch_ahead() noexcept {
    static constexpr std::size_t kPrefetch = 4096, kLine = 64;
    const std::size_t until = std::min(len_, pos_ + kPrefetch);
    if (prefetched_ < pos_) prefetched_ = pos_;
    // Four lines a turn (the loop cost as much as the prefetches); the lines short of a turn wait for the next
    // record, still thousands of bytes ahead.
    for (; prefetched_ + 4 * kLine <= until; prefetched_ += 4 * kLine) {
      // Non-temporal: the bytes are read once, soon, and should not push the analysis's tables out of the
      // caches (mapped: nothing else brings them in).
      __builtin_prefetch(data_ + prefetched_, 0, 0);
      __builtin_prefetch(data_ + prefetched_ + kLine, 0, 0);
      __builtin_prefetch(data_ + prefetched_ + 2 * kLine, 0, 0);
      __builtin_prefetch(data_ + prefetched_ + 3 * kLine, 0, 0);
    }
  }
  Status fail(Status s, std::string msg);

  struct Interface {
    std::uint32_t link_type = 0;
    std::uint32_t snaplen = 0;               // 0: none
    std::uint64_t ts_units_per_s = 1000000;  // if_tsresol
    std::int64_t ts_offset_s = 0;            // if_tsoffset
  };
  // pcapng: the next block that holds a frame, each kind of block in its own function. A block is whole in
  // memory from its type to its trailing length when these are called; `body` follows its 8-byte header.
  struct Block {
    std::uint32_t type;
    const std::uint8_t* body;
    std::size_t body_len;
    std::uint64_t offset;  // in the file
  };
  Status next_pcapng(CaptureRecord& rec);
  Status next_pcapng_block(Block& block);
  bool section_header() noexcept;  // a new section's byte order; false on a bad byte-order magic
  Status interface_block(const Block& b);
  Status packet_block(const Block& b, CaptureRecord& rec);
  Status simple_packet_block(const Block& b, CaptureRecord& rec);
  std::string where(std::uint64_t offset) const;  // "byte offset N (before frame F)"

  std::FILE* f_ = nullptr;
  std::string path_;
  std::string error_;
  Format format_ = Format::unknown;
  bool swapped_ = false;
  bool nanos_ = false;           // pcap: nanosecond timestamps
  std::int64_t frac_ns_ = 1000;  // pcap: nanoseconds per unit of a record's fraction of a second
  std::uint32_t link_type_ = 0;  // pcap
  std::uint32_t snaplen_ = 0;
  std::vector<Interface> ifaces_;  // pcapng: of the current section
  // A pipe or standard input is read into buf_, a block at a time.
  // (Its bytes are not zeroed as it grows: they are read into. That was a megabyte of memset per file.)
  template <class T>
  struct UninitAllocator : std::allocator<T> {
    template <class U>
    void construct(U* p) noexcept {
      ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
  };
  std::vector<std::uint8_t, UninitAllocator<std::uint8_t>> buf_;
  const std::uint8_t* data_ = nullptr;  // buf_.data()
  std::size_t pos_ = 0, len_ = 0;       // unread bytes are data_[pos_, len_)
  std::size_t prefetched_ = 0;          // data_[.., prefetched_) has been prefetched (0 after data_ changes)
  std::uint64_t consumed_ = 0;          // file offset of buf_[pos_]
  std::uint64_t file_size_ = 0;
  std::uint64_t frame_ = 0;
  bool eof_ = false;
  // A regular file: mapped, map_len_ bytes from file offset map_off_ (data_ == map_), registered for the
  // SIGBUS handler as window_ (-1: not mapped now).
  bool mapped_ = false;
  std::uint8_t* map_ = nullptr;
  std::size_t map_len_ = 0;
  std::uint64_t map_off_ = 0;
  int window_ = -1;
};

}  // namespace mqttauth::cli
