// multicast_receiver.cpp: joins a multicast group on loopback and counts what arrives.
//   socket -> setsockopt(SO_REUSEADDR) -> bind(group, port)
//          -> setsockopt(IP_ADD_MEMBERSHIP, ip_mreq on 127.0.0.1) -> recvfrom ... -> close
//
// Usage: multicast_receiver GROUP PORT [COUNT] [SECONDS]
// Stops after COUNT datagrams (default 10) or SECONDS quiet seconds (default 2).
// The first line printed, "joined GROUP:PORT on 127.0.0.1", says it is listening.
#include <cstdlib>
#include <iostream>
#include <string>

#include "socket.hpp"

using labsock::Address;
using labsock::Socket;
using labsock::SocketError;

int main(int argc, char* argv[]) {
    if (argc < 3) {
        std::cerr << "usage: multicast_receiver GROUP PORT [COUNT] [SECONDS]\n";
        return 2;
    }
    try {
        const Address group(argv[1], std::atoi(argv[2]));
        const int count = argc > 3 ? std::atoi(argv[3]) : 10;
        Socket sock(SOCK_DGRAM);
        int yes = 1;  // several receivers share the group's port
        sock.set_option(SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        int no = 0;  // hear only the group we join, not every group bound to this port
        sock.set_option(IPPROTO_IP, IP_MULTICAST_ALL, &no, sizeof no);
        sock.bind(group);
        ip_mreq membership{};
        inet_pton(AF_INET, group.host().c_str(), &membership.imr_multiaddr);
        inet_pton(AF_INET, "127.0.0.1", &membership.imr_interface);  // join on loopback only
        sock.set_option(IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof membership);
        sock.set_timeout(argc > 4 ? std::atof(argv[4]) : 2.0);
        std::cout << "joined " << group.str() << " on 127.0.0.1" << std::endl;
        int received = 0;
        while (received < count) {
            try {
                Address from;
                sock.recv_from(65536, &from);
            } catch (const SocketError& error) {
                if (labsock::timed_out(error)) break;
                throw;
            }
            ++received;
        }
        std::cout << "received " << received << " datagram(s)" << std::endl;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << std::endl;
        return 1;
    }
    return 0;
}
