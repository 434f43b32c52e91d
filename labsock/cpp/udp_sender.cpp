// udp_sender.cpp: sends COUNT numbered datagrams to an echo, counts what comes back.
//   socket -> sendto ... -> recvfrom ... -> close   (no connection, no bind needed)
//
// Usage: udp_sender HOST PORT [COUNT]
// Datagrams can be lost: whatever has not come back after one quiet second
// is counted as lost. The last line says "sent N, received M, lost K".
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>

#include "socket.hpp"

using labsock::Address;
using labsock::Socket;
using labsock::SocketError;

int main(int argc, char* argv[]) {
    if (argc < 3) {
        std::cerr << "usage: udp_sender HOST PORT [COUNT]\n";
        return 2;
    }
    try {
        const Address echo(argv[1], std::atoi(argv[2]));
        const int count = argc > 3 ? std::atoi(argv[3]) : 10;
        Socket sock(SOCK_DGRAM);
        int buffer = 1 << 20;  // room for every echo while we are still sending
        sock.set_option(SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
        for (int seq = 0; seq < count; ++seq) {
            sock.send_to("datagram " + std::to_string(seq), echo);
        }
        std::set<std::string> back;  // a duplicated echo counts once
        sock.set_timeout(1.0);
        while (static_cast<int>(back.size()) < count) {
            try {
                Address from;
                back.insert(sock.recv_from(2048, &from));
            } catch (const SocketError& error) {
                if (labsock::timed_out(error)) break;  // one quiet second: the rest is lost
                throw;
            }
        }
        const int received = static_cast<int>(back.size());
        std::cout << "sent " << count << ", received " << received << ", lost "
                  << count - received << std::endl;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << std::endl;
        return 1;
    }
    return 0;
}
