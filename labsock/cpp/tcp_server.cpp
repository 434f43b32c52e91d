// tcp_server.cpp: a TCP echo server, the server's life cycle of the material:
//   socket -> bind -> listen -> accept -> recv/send ... recv returns 0 -> close
//
// Usage: tcp_server HOST PORT [CLIENTS]
//   HOST     the address to listen on (127.0.0.1: loopback only)
//   PORT     0 lets the operating system pick a free port
//   CLIENTS  how many connections to serve before stopping (default 1)
// Each connection is served by its own thread, so many clients are served at
// once. The first line printed, "listening on 127.0.0.1:PORT", says the port.
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "socket.hpp"

using labsock::Address;
using labsock::Socket;
using labsock::SocketError;

class EchoServer {
public:
    EchoServer(const Address& address, int backlog) : listener_(SOCK_STREAM) {
        int yes = 1;  // a re-run may bind the port of a connection still in TIME_WAIT
        listener_.set_option(SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        listener_.bind(address);      // bind: this address and port are mine
        listener_.listen(backlog);    // listen: passive mode, clients may connect
        listener_.set_timeout(10.0);  // accept gives up after 10 s without a client
    }

    Address address() const { return listener_.local_address(); }

    // Serve `clients` connections, each in a thread of its own.
    void serve(int clients) {
        std::vector<std::thread> workers;
        for (int number = 1; number <= clients; ++number) {
            Address peer;
            Socket connection = listener_.accept(&peer);  // a NEW socket per client
            workers.emplace_back(&EchoServer::echo, this, std::move(connection), peer, number);
        }
        for (auto& worker : workers) worker.join();
    }  // the listening socket closes when the server object is destroyed

private:
    // Send back every byte received, until recv returns 0: the client closed.
    void echo(Socket connection, Address peer, int number) {
        try {
            connection.set_timeout(10.0);
            size_t total = 0;
            for (;;) {
                std::string data = connection.recv(65536);
                if (data.empty()) break;  // recv returned 0: end of the stream
                connection.send_all(data);
                total += data.size();
            }
            say("connection " + std::to_string(number) + " from " + peer.str() + ": echoed " +
                std::to_string(total) + " bytes, then the client closed");
        } catch (const SocketError& error) {
            say("connection " + std::to_string(number) + ": " + error.what());
        }
    }  // `connection` is closed here, by Socket's destructor

    void say(const std::string& line) {
        std::lock_guard<std::mutex> lock(output_);  // one line at a time from the threads
        std::cout << line << std::endl;
    }

    Socket listener_;
    std::mutex output_;
};

int main(int argc, char* argv[]) {
    if (argc < 3) {
        std::cerr << "usage: tcp_server HOST PORT [CLIENTS]\n";
        return 2;
    }
    try {
        int clients = argc > 3 ? std::atoi(argv[3]) : 1;
        EchoServer server(Address(argv[1], std::atoi(argv[2])), clients + 16);
        std::cout << "listening on " << server.address().str() << std::endl;
        server.serve(clients);
        std::cout << "served " << clients << " client(s), closing" << std::endl;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << std::endl;
        return 1;
    }
    return 0;
}
