// tcp_client.cpp: a TCP echo client, the client's life cycle of the material:
//   socket -> connect -> send/recv -> close
//
// Usage: tcp_client HOST PORT [MESSAGE]
//   With MESSAGE: sends it, prints what came back.
//   Without: sends everything read from standard input and writes the echo,
//   byte for byte, to standard output (messages then go to standard error).
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "socket.hpp"

using labsock::Address;
using labsock::Socket;

class EchoClient {
public:
    // socket + connect: the operating system picks our own port.
    explicit EchoClient(const Address& server) : socket_(SOCK_STREAM) {
        socket_.set_timeout(10.0);
        socket_.connect(server);
    }

    Address local_address() const { return socket_.local_address(); }

    // Send `data` in pieces; after each piece, receive until it all came back.
    std::string echo(const std::string& data) {
        const size_t piece = 65536;
        std::string back;
        for (size_t start = 0; start < data.size(); start += piece) {
            std::string part = data.substr(start, piece);
            socket_.send_all(part);
            size_t expected = back.size() + part.size();
            while (back.size() < expected) {
                std::string got = socket_.recv(expected - back.size());
                if (got.empty()) throw std::runtime_error("the server closed the connection early");
                back += got;
            }
        }
        return back;
    }

    void close() { socket_.close(); }  // close: the server's recv will return 0

private:
    Socket socket_;
};

int main(int argc, char* argv[]) {
    if (argc < 3) {
        std::cerr << "usage: tcp_client HOST PORT [MESSAGE]\n";
        return 2;
    }
    const bool from_stdin = argc < 4;
    std::ostream& log = from_stdin ? std::cerr : std::cout;
    try {
        std::string message = from_stdin ? std::string(std::istreambuf_iterator<char>(std::cin), {})
                                         : std::string(argv[3]);
        EchoClient client(Address(argv[1], std::atoi(argv[2])));
        log << "connected from " << client.local_address().str() << std::endl;
        std::string reply = client.echo(message);
        client.close();
        if (from_stdin) {
            std::cout.write(reply.data(), static_cast<std::streamsize>(reply.size()));
            std::cout.flush();
        } else {
            std::cout << "sent " << message.size() << " bytes: " << message << "\n";
            std::cout << "received " << reply.size() << " bytes: " << reply << std::endl;
        }
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << std::endl;
        return 1;
    }
    return 0;
}
