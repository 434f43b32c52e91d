// socket.hpp: a small RAII wrapper around the BSD socket calls of the course.
//
// One class, Socket, owns one file descriptor and closes it in its
// destructor: a socket can never be forgotten open, even when an exception
// leaves the function early. Every failing call throws SocketError, which
// carries errno and the operating system's own text ("Connection refused").
// Address is a sockaddr_in with a readable face: the C structures of the
// material (sockaddr_in, htons, inet_pton, socklen_t) live here, once.
//
// Lesson material of labsock (notebooks/05_cpp.ipynb); C++17, Linux/macOS.
#pragma once

#include <arpa/inet.h>   // inet_pton, inet_ntop, htons, ntohs
#include <netinet/in.h>  // sockaddr_in, ip_mreq, IPPROTO_IP
#include <sys/socket.h>  // socket, bind, listen, accept, connect, send, recv
#include <sys/time.h>    // timeval, for SO_RCVTIMEO
#include <unistd.h>      // close

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace labsock {

// A failed socket call: what we tried, and errno's text.
class SocketError : public std::runtime_error {
public:
    SocketError(const std::string& what, int code)
        : std::runtime_error(what + ": " + std::strerror(code)), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

// An IPv4 address and port: a sockaddr_in, in network byte order inside.
class Address {
public:
    Address() = default;
    Address(const std::string& host, int port) {
        addr_.sin_family = AF_INET;
        addr_.sin_port = htons(static_cast<uint16_t>(port));  // host -> network order
        if (inet_pton(AF_INET, host.c_str(), &addr_.sin_addr) != 1) {
            throw std::invalid_argument("not an IPv4 address: " + host);
        }
    }
    explicit Address(const sockaddr_in& raw) : addr_(raw) {}

    std::string host() const {
        char text[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &addr_.sin_addr, text, sizeof text);
        return text;
    }
    int port() const { return ntohs(addr_.sin_port); }  // network -> host order
    std::string str() const { return host() + ":" + std::to_string(port()); }

    const sockaddr* raw() const { return reinterpret_cast<const sockaddr*>(&addr_); }
    sockaddr* raw() { return reinterpret_cast<sockaddr*>(&addr_); }
    socklen_t size() const { return sizeof addr_; }

private:
    sockaddr_in addr_{};
};

// One socket. Move-only: two owners would close one descriptor twice.
class Socket {
public:
    // socket(): a new TCP (SOCK_STREAM) or UDP (SOCK_DGRAM) socket.
    explicit Socket(int type) : fd_(::socket(AF_INET, type, 0)) {
        if (fd_ < 0) throw SocketError("socket", errno);
    }
    ~Socket() { close(); }
    Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Socket& operator=(Socket&& other) noexcept {
        if (this != &other) {
            close();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    void bind(const Address& address) {
        if (::bind(fd_, address.raw(), address.size()) < 0)
            throw SocketError("bind " + address.str(), errno);
    }
    void listen(int backlog = 16) {
        if (::listen(fd_, backlog) < 0) throw SocketError("listen", errno);
    }
    // accept(): waits for a client; returns a NEW socket for that connection.
    Socket accept(Address* peer = nullptr) {
        Address from;
        socklen_t size = from.size();
        int fd = ::accept(fd_, from.raw(), &size);
        if (fd < 0) throw SocketError("accept", errno);
        if (peer != nullptr) *peer = from;
        return Socket(Adopt{}, fd);
    }
    void connect(const Address& address) {
        if (::connect(fd_, address.raw(), address.size()) < 0)
            throw SocketError("connect to " + address.str(), errno);
    }
    // send() may take fewer bytes than offered: loop until all are gone.
    void send_all(const std::string& data) {
        size_t sent = 0;
        while (sent < data.size()) {
            ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (n < 0) throw SocketError("send", errno);
            sent += static_cast<size_t>(n);
        }
    }
    // recv(): up to `size` bytes; an EMPTY string means the peer closed (recv returned 0).
    std::string recv(size_t size) {
        std::string buffer(size, '\0');
        ssize_t n = ::recv(fd_, buffer.data(), size, 0);
        if (n < 0) throw SocketError("recv", errno);
        buffer.resize(static_cast<size_t>(n));
        return buffer;
    }
    void send_to(const std::string& data, const Address& to) {
        if (::sendto(fd_, data.data(), data.size(), 0, to.raw(), to.size()) < 0)
            throw SocketError("sendto " + to.str(), errno);
    }
    std::string recv_from(size_t size, Address* from) {
        std::string buffer(size, '\0');
        Address sender;
        socklen_t length = sender.size();
        ssize_t n = ::recvfrom(fd_, buffer.data(), size, 0, sender.raw(), &length);
        if (n < 0) throw SocketError("recvfrom", errno);
        buffer.resize(static_cast<size_t>(n));
        if (from != nullptr) *from = sender;
        return buffer;
    }
    // The address the operating system gave this socket (port 0 -> a real port).
    Address local_address() const {
        Address here;
        socklen_t size = here.size();
        if (::getsockname(fd_, here.raw(), &size) < 0) throw SocketError("getsockname", errno);
        return here;
    }
    // Every blocking receive gives up after `seconds` (recv fails with EAGAIN).
    void set_timeout(double seconds) {
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(seconds);
        tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
        set_option(SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    void set_option(int level, int name, const void* value, socklen_t size) {
        if (::setsockopt(fd_, level, name, value, size) < 0)
            throw SocketError("setsockopt", errno);
    }
    void close() noexcept {
        if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    }
    int fd() const noexcept { return fd_; }

private:
    struct Adopt {};
    Socket(Adopt, int fd) : fd_(fd) {}
    int fd_;
};

// True when recv() failed only because the timeout ran out.
inline bool timed_out(const SocketError& error) {
    return error.code() == EAGAIN || error.code() == EWOULDBLOCK;
}

}  // namespace labsock
