#include "http/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "http/server.h"
#include "testing/http_response.h"

namespace airlock::http {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A self-signed certificate (EC P-256) whose subjectAltName lists `san`, written with its
// key to a fresh temporary directory.
struct TestCertificate {
  fs::path dir;
  fs::path cert;
  fs::path key;
  ~TestCertificate() { fs::remove_all(dir); }
};

std::unique_ptr<TestCertificate> MakeCertificate(const std::string& san) {
  auto out = std::make_unique<TestCertificate>();
  char tmpl[] = "/tmp/airlock-client-test-XXXXXX";
  out->dir = ::mkdtemp(tmpl);
  out->cert = out->dir / "cert.pem";
  out->key = out->dir / "key.pem";

  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x509 = X509_new();
  X509_set_version(x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), -60);
  X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
  X509_set_pubkey(x509, pkey);
  X509_NAME* name = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("airlock test"), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x509, x509, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san},
                            std::pair{NID_basic_constraints, std::string("critical,CA:TRUE")}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(x509, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x509, pkey, EVP_sha256());

  FILE* f = std::fopen(out->cert.c_str(), "w");
  PEM_write_X509(f, x509);
  std::fclose(f);
  f = std::fopen(out->key.c_str(), "w");
  PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x509);
  EVP_PKEY_free(pkey);
  return out;
}

// A server whose handler answers by path.
Response Answer(const Request& request) {
  if (request.path == "/jwks") return Response::Json(200, R"({"keys":[]})");
  if (request.path == "/echo") {
    Response r = Response::Json(200, request.body);
    r.SetHeader("X-Method", request.method);
    r.SetHeader("X-Auth", std::string(request.Header("Authorization")));
    r.SetHeader("X-Query", request.query);
    return r;
  }
  if (request.path == "/big") return Response::Json(200, std::string(64 * 1024, 'x'));
  if (request.path == "/moved") {
    Response r;
    r.status = 302;
    r.SetHeader("Location", "/jwks");
    return r;
  }
  return Response::Detail(404, "Not Found");
}

std::unique_ptr<Server> StartServer(ServerOptions options = {}) {
  options.threads = 1;
  auto server = Server::Start(std::move(options), Answer);
  EXPECT_TRUE(server.has_value()) << server.error().ToString();
  return server ? std::move(*server) : nullptr;
}

std::string Url(const Server& server, std::string_view path, std::string_view scheme = "http") {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(server.port()) + std::string(path);
}

TEST(ClientResponseTest, DetailIsTheErrorBodysDetailOrTheStatus) {
  EXPECT_EQ((ClientResponse{.status = 403, .body = R"({"detail":"Invalid auth token"})"}).Detail(),
            "Invalid auth token");
  EXPECT_EQ(
      (ClientResponse{.status = 409, .body = R"({"detail":{"reason":"not_running"}})"}).Detail(),
      R"({"reason":"not_running"})");
  EXPECT_EQ((ClientResponse{.status = 502, .body = "<html>bad gateway</html>"}).Detail(),
            "HTTP 502");
  EXPECT_EQ((ClientResponse{.status = 404, .body = R"({"message":"x"})"}).Detail(), "HTTP 404");
}

// UsesTls answers as Send() parses: what airlock-supervisor checks before it execs its TLS
// build.
TEST(ClientTest, UsesTlsForHttpsUrlsOnly) {
  EXPECT_TRUE(UsesTls("https://api.example:8443/execution/"));
  EXPECT_TRUE(UsesTls("https://[::1]/execution/"));
  EXPECT_FALSE(UsesTls("http://127.0.0.1:8080/execution/"));
  EXPECT_FALSE(UsesTls("not a url"));
  EXPECT_FALSE(UsesTls("ftp://host/x"));
}

TEST(ClientTest, GetsBodyStatusAndHeaders) {
  auto server = StartServer();
  auto response = Send({.method = "GET", .url = Url(*server, "/jwks")});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"keys":[]})");
  EXPECT_EQ(response->Header("content-type"), "application/json");
}

TEST(ClientTest, SendsMethodHeadersBodyAndQuery) {
  auto server = StartServer();
  auto response = Send({.method = "PATCH",
                        .url = Url(*server, "/echo?a=1&b=%20"),
                        .headers = {{"Authorization", "Bearer abc"}},
                        .body = R"({"state":"running"})"});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->body, R"({"state":"running"})");
  EXPECT_EQ(response->Header("X-Method"), "PATCH");
  EXPECT_EQ(response->Header("x-auth"), "Bearer abc");
  EXPECT_EQ(response->Header("X-Query"), "a=1&b=%20");
}

TEST(ClientTest, DoesNotFollowRedirects) {
  auto server = StartServer();
  auto response = Send({.url = Url(*server, "/moved")});
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(response->Header("Location"), "/jwks");
}

TEST(ClientTest, FetchUrlTreatsNon200AsUnavailable) {
  auto server = StartServer();
  auto ok = FetchUrl(Url(*server, "/jwks"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, R"({"keys":[]})");
  auto missing = FetchUrl(Url(*server, "/nope?token=s3cr3t"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(missing.error().message().find("HTTP status 404"), std::string::npos);
  EXPECT_EQ(missing.error().message().find("s3cr3t"), std::string::npos);
}

TEST(ClientTest, CapsTheResponseBody) {
  auto server = StartServer();
  auto response = Send({.url = Url(*server, "/big")}, {.max_body_bytes = 1024});
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kResourceExhausted);
  auto whole = Send({.url = Url(*server, "/big")}, {.max_body_bytes = 64 * 1024});
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->body.size(), 64u * 1024);
}

TEST(ClientTest, HeadersOnlyReadsTheStatusOfAnyBodySize) {
  auto server = StartServer();
  auto response =
      Send({.url = Url(*server, "/big")}, {.max_body_bytes = 1024, .headers_only = true});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->body.empty());
  EXPECT_EQ(response->Header("Content-Length"), std::to_string(64 * 1024));
}

TEST(ClientTest, RefusesBadUrls) {
  for (std::string url : {"ftp://127.0.0.1/x", "not a url", "/relative/path",
                          "http://user:pw@127.0.0.1/x", "file:///etc/passwd"}) {
    auto response = Send({.url = url});
    ASSERT_FALSE(response.has_value()) << url;
    EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument) << url;
    EXPECT_EQ(response.error().message().find("pw@"), std::string::npos);
  }
}

TEST(ClientTest, ConnectionRefusedIsUnavailableWithoutTheQuery) {
  // Bind a port, then close it, so nothing listens there.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  std::string url =
      "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/jwks?secret=hunter2";
  auto response = Send({.url = url});
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(response.error().message().find("/jwks"), std::string::npos);
  EXPECT_EQ(response.error().message().find("hunter2"), std::string::npos);
}

TEST(ClientTest, TimesOutOnASilentServer) {
  // Accepts connections (the kernel completes the handshake) but never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto started = std::chrono::steady_clock::now();
  auto response = Send({.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/"},
                       {.timeout = 300ms});
  auto elapsed = std::chrono::steady_clock::now() - started;
  ::close(fd);
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_LT(elapsed, 5s);  // generous: only proves the timeout, not its precision
}

TEST(ClientTest, HttpsWithTrustedCertificate) {
  auto cert = MakeCertificate("IP:127.0.0.1,DNS:localhost");
  auto server = StartServer({.tls_cert_file = cert->cert, .tls_key_file = cert->key});
  auto response = Send({.url = Url(*server, "/jwks", "https")}, {.ca_file = cert->cert});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"keys":[]})");
  // By name as well as by address.
  auto by_name = Send({.url = "https://localhost:" + std::to_string(server->port()) + "/jwks"},
                      {.ca_file = cert->cert});
  ASSERT_TRUE(by_name.has_value()) << by_name.error().ToString();
}

// A blocking TLS client on one connection, so that a test can send a request in pieces
// and several requests on one kept-alive connection (Send() opens one per request).
class TlsConnection {
 public:
  TlsConnection(uint16_t port, const fs::path& ca) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~TlsConnection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  bool connected() const { return connected_; }

  // One TLS record per call.
  void Send(std::string_view data) {
    ASSERT_EQ(SSL_write(ssl_, data.data(), static_cast<int>(data.size())),
              static_cast<int>(data.size()));
  }

  // Reads until one response with a Content-Length body is complete.
  std::string ReadResponse() {
    for (;;) {
      if (const size_t n = test::CompleteResponseLength(pending_); n > 0) {
        std::string out = pending_.substr(0, n);
        pending_.erase(0, n);
        return out;
      }
      char buf[4096];
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return pending_;
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

// Over TLS, requests on one kept-alive connection are each read once they arrive, also
// one sent in pieces with pauses between them: the server's reads wait for data after
// a read that emptied the socket.
TEST(ClientTest, HttpsKeepsAConnectionAliveAcrossRequestsSentInPieces) {
  auto cert = MakeCertificate("IP:127.0.0.1");
  auto server = StartServer({.tls_cert_file = cert->cert, .tls_key_file = cert->key});
  TlsConnection client(server->port(), cert->cert);
  ASSERT_TRUE(client.connected());
  for (int round = 0; round < 3; ++round) {
    client.Send("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Le");
    std::this_thread::sleep_for(20ms);
    client.Send("ngth: 7\r\n\r\nround");
    std::this_thread::sleep_for(20ms);
    client.Send("-" + std::to_string(round));
    const std::string response = client.ReadResponse();
    EXPECT_EQ(response.substr(0, 12), "HTTP/1.1 200") << response;
    EXPECT_EQ(response.substr(response.size() - 7), "round-" + std::to_string(round));
  }
}

TEST(ClientTest, HttpsRefusesAnUntrustedCertificate) {
  auto cert = MakeCertificate("IP:127.0.0.1");
  auto server = StartServer({.tls_cert_file = cert->cert, .tls_key_file = cert->key});
  auto response = Send({.url = Url(*server, "/jwks", "https")});  // system CAs only
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(response.error().message().find("TLS handshake failed"), std::string::npos);
}

TEST(ClientTest, HttpsRefusesACertificateForAnotherHost) {
  auto cert = MakeCertificate("DNS:jwks.example.com");
  auto server = StartServer({.tls_cert_file = cert->cert, .tls_key_file = cert->key});
  auto response = Send({.url = Url(*server, "/jwks", "https")}, {.ca_file = cert->cert});
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(response.error().message().find("mismatch"), std::string::npos)
      << response.error().message();
}

TEST(ClientTest, MissingCaFileIsInvalidArgument) {
  auto response = Send({.url = "https://127.0.0.1:1/"}, {.ca_file = "/nonexistent/ca.pem"});
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ClientTest, PlainHttpToATlsServerFailsCleanly) {
  auto cert = MakeCertificate("IP:127.0.0.1");
  auto server = StartServer({.tls_cert_file = cert->cert, .tls_key_file = cert->key});
  auto response = Send({.url = Url(*server, "/jwks")}, {.timeout = 2s});
  EXPECT_FALSE(response.has_value() && response->status == 200);
}

}  // namespace
}  // namespace airlock::http
