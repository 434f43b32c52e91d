// udp_receiver.cpp: a UDP echo: receives datagrams and sends each one back.
//   socket -> bind -> recvfrom/sendto ... -> close   (no listen, no accept)
//
// Usage: udp_receiver HOST PORT [COUNT]
// Stops after COUNT datagrams (default 10) or after 2 quiet seconds.
// The first line printed, "bound to 127.0.0.1:PORT", says the port.
#include <cstdlib>
#include <iostream>
#include <string>

#include "socket.hpp"

using labsock::Address;
using labsock::Socket;
using labsock::SocketError;

int main(int argc, char* argv[]) {
    if (argc < 3) {
        std::cerr << "usage: udp_receiver HOST PORT [COUNT]\n";
        return 2;
    }
    try {
        const int count = argc > 3 ? std::atoi(argv[3]) : 10;
        Socket sock(SOCK_DGRAM);
        sock.bind(Address(argv[1], std::atoi(argv[2])));
        sock.set_timeout(2.0);
        std::cout << "bound to " << sock.local_address().str() << std::endl;
        int received = 0;
        while (received < count) {
            Address from;
            std::string data;
            try {
                data = sock.recv_from(65536, &from);  // who sent it comes with it
            } catch (const SocketError& error) {
                if (labsock::timed_out(error)) break;
                throw;
            }
            ++received;
            sock.send_to(data, from);  // the reply goes back to the sender's address
        }
        std::cout << "received and echoed " << received << " datagram(s)" << std::endl;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << std::endl;
        return 1;
    }
    return 0;
}
