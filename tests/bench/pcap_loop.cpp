// pcap_loop: the floor for capture benchmarks. Reads a pcap or pcapng file with libpcap and does nothing but
// count records and captured bytes (pcap_open_offline + pcap_next_ex), so that the time of a real analysis
// can be compared with the time it takes just to read the file.
//
//   pcap_loop FILE   prints "packets=N bytes=N wire_bytes=N"; exit 0, 2 when the file cannot be read.
#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pcap_loop FILE\n");
    return 2;
  }
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(argv[1], err);
  if (!p) {
    std::fprintf(stderr, "pcap_loop: %s\n", err);
    return 2;
  }
  std::uint64_t packets = 0, bytes = 0, wire = 0;
  struct pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
    ++packets;
    bytes += h->caplen;
    wire += h->len;
  }
  int status = 0;
  if (rc == PCAP_ERROR) {
    std::fprintf(stderr, "pcap_loop: %s: %s (after %llu packets)\n", argv[1], pcap_geterr(p),
                 static_cast<unsigned long long>(packets));
    status = 1;
  }
  pcap_close(p);
  std::printf("packets=%llu bytes=%llu wire_bytes=%llu\n", static_cast<unsigned long long>(packets),
              static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(wire));
  return status;
}
