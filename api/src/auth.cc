// Credentials and roles: token hashes compared in constant time, client certificates by CN/SAN.
#include "vigil/api/auth.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <set>

#include "vigil/api/http_util.h"

namespace vigil::api {
namespace {

constexpr std::string_view kIngestPrefix = "ingest:";

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool HasRole(const Credential& c, std::string_view role) {
  for (const std::string& r : c.roles) {
    if (r == role) return true;
  }
  return false;
}

std::string_view IngestCluster(const Credential& c) {
  for (const std::string& r : c.roles) {
    if (std::string_view(r).starts_with(kIngestPrefix)) {
      return std::string_view(r).substr(kIngestPrefix.size());
    }
  }
  return {};
}

// Refusals are logged, but a flood of them (a scanner, a misconfigured apiserver retrying) must
// not flood the log: at most kLogBurst lines a second, the rest counted in the next line.
class RefusalLog {
 public:
  void Warn(std::string_view what, const Request& req) {
    using Clock = std::chrono::steady_clock;
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::time_point now = Clock::now();
    if (now - window_ >= std::chrono::seconds(1)) {
      if (dropped_ > 0) spdlog::warn("api: {} more refused requests not logged", dropped_);
      window_ = now;
      lines_ = 0;
      dropped_ = 0;
    }
    if (++lines_ > kLogBurst) {
      ++dropped_;
      return;
    }
    spdlog::warn("api: {} {}: {}", req.method, req.path, what);
  }

 private:
  static constexpr int kLogBurst = 20;
  std::mutex mu_;
  std::chrono::steady_clock::time_point window_{};
  int lines_ = 0;
  uint64_t dropped_ = 0;
};

RefusalLog& Refusals() {
  static RefusalLog log;
  return log;
}

Response Unauthorized(std::string_view message) {
  Response r = JsonError(401, message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"vigil\"");
  return r;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

Status CheckAuthOptions(const AuthOptions& options) {
  std::set<std::string> names, hashes, client_names;
  for (size_t i = 0; i < options.credentials.size(); ++i) {
    const Credential& c = options.credentials[i];
    const std::string where = "credential " + std::to_string(i + 1) +
                              (c.name.empty() ? std::string() : " ('" + c.name + "')");
    if (c.name.empty()) return Status::InvalidArgument(where + ": name is empty");
    if (!names.insert(c.name).second) {
      return Status::InvalidArgument(where + ": the name is used twice");
    }
    if (c.token_sha256.empty() && c.client_names.empty()) {
      return Status::InvalidArgument(where + ": needs a token_sha256 or a client_cert name");
    }
    if (!c.token_sha256.empty()) {
      if (c.token_sha256.size() != 64 || !IsLowerHex(c.token_sha256)) {
        return Status::InvalidArgument(
            where + ": token_sha256 must be 64 lowercase hex digits (printf %s TOKEN | sha256sum)");
      }
      if (!hashes.insert(c.token_sha256).second) {
        return Status::InvalidArgument(where + ": the token_sha256 is also another credential's");
      }
    }
    for (const std::string& n : c.client_names) {
      if (n.empty()) return Status::InvalidArgument(where + ": an empty client_cert name");
      if (!client_names.insert(n).second) {
        return Status::InvalidArgument(where + ": client_cert name '" + n +
                                       "' is also another credential's");
      }
    }
    if (c.roles.empty()) return Status::InvalidArgument(where + ": has no roles");
    int ingest = 0;
    for (const std::string& r : c.roles) {
      if (std::string_view(r).starts_with(kIngestPrefix)) {
        if (r.size() == kIngestPrefix.size()) {
          return Status::InvalidArgument(where + ": role 'ingest:' names no cluster");
        }
        ++ingest;
      } else if (r != "read" && r != "triage" && r != "admin") {
        return Status::InvalidArgument(where + ": unknown role '" + r +
                                       "' (read, triage, admin or ingest:<cluster>)");
      }
    }
    if (ingest > 1) {
      return Status::InvalidArgument(where + ": a credential ingests for one cluster only");
    }
  }
  return Status::Ok();
}

void AuthCounters::Render(std::string* out) const {
  out->append(
      "# HELP vigil_http_auth_failures_total Requests refused for their credential: missing "
      "(401), invalid (401) or without the route's role (403).\n"
      "# TYPE vigil_http_auth_failures_total counter\n");
  for (auto [reason, v] : {std::pair{"missing", &missing}, std::pair{"invalid", &invalid},
                           std::pair{"forbidden", &forbidden}}) {
    out->append("vigil_http_auth_failures_total{reason=\"")
        .append(reason)
        .append("\"} ")
        .append(std::to_string(v->load(std::memory_order_relaxed)))
        .append("\n");
  }
}

Authenticator::Authenticator(AuthOptions options) : options_(std::move(options)) {}

bool Authenticator::Allows(const Credential& c, RouteOptions::Role role) {
  switch (role) {
    case RouteOptions::Role::kOpen:
      return true;
    case RouteOptions::Role::kRead:
      return HasRole(c, "read") || HasRole(c, "triage") || HasRole(c, "admin");
    case RouteOptions::Role::kTriage:
      return HasRole(c, "triage") || HasRole(c, "admin");
    case RouteOptions::Role::kAdmin:
      return HasRole(c, "admin");
    case RouteOptions::Role::kIngest:
      return !IngestCluster(c).empty();
  }
  return false;
}

const Credential* Authenticator::FindByToken(std::string_view token) const {
  const std::string hash = Sha256Hex(token);
  const Credential* found = nullptr;
  // Every hash is compared, each in constant time, so timing tells nothing about which matched.
  for (const Credential& c : options_.credentials) {
    if (!c.token_sha256.empty() && ConstantTimeEquals(hash, c.token_sha256) && found == nullptr) {
      found = &c;
    }
  }
  return found;
}

const Credential* Authenticator::FindByCertificate(const Request& req) const {
  if (req.tls_client_cn.empty() && req.tls_client_sans.empty()) return nullptr;
  for (const Credential& c : options_.credentials) {
    for (const std::string& n : c.client_names) {
      if (n == req.tls_client_cn) return &c;
      for (const std::string& san : req.tls_client_sans) {
        if (n == san) return &c;
      }
    }
  }
  return nullptr;
}

std::optional<Response> Authenticator::Authenticate(const Request& req, AuthCounters* counters,
                                                    const Credential** credential) const {
  *credential = nullptr;
  const std::string_view authorization = req.Header("Authorization");
  const Credential* c = nullptr;
  if (!authorization.empty()) {
    const std::string_view token = BearerToken(authorization);
    if (!token.empty()) c = FindByToken(token);
    if (c == nullptr) {
      counters->invalid.fetch_add(1, std::memory_order_relaxed);
      Refusals().Warn("invalid bearer token", req);
      return Unauthorized("invalid bearer token");
    }
  } else {
    c = FindByCertificate(req);
    if (c == nullptr) {
      const bool had_cert = !req.tls_client_cn.empty() || !req.tls_client_sans.empty();
      (had_cert ? counters->invalid : counters->missing).fetch_add(1, std::memory_order_relaxed);
      Refusals().Warn(had_cert
                          ? "client certificate '" + req.tls_client_cn + "' is not a credential"
                          : std::string("no credential"),
                      req);
      return Unauthorized(had_cert ? "this client certificate is not a known credential"
                                   : "missing credential: a bearer token or a client certificate");
    }
  }
  *credential = c;
  return std::nullopt;
}

std::optional<Response> Authenticator::Check(const Request& req, RouteOptions::Role role,
                                             AuthCounters* counters, Identity* identity) const {
  *identity = {};
  if (role == RouteOptions::Role::kOpen) return std::nullopt;
  if (!options_.enabled()) {
    // Open server: everything but the webhook, whose cluster only a credential can name.
    if (role != RouteOptions::Role::kIngest) return std::nullopt;
    counters->missing.fetch_add(1, std::memory_order_relaxed);
    Refusals().Warn("no credential is configured for ingest", req);
    return Unauthorized("no ingest credential is configured on this server");
  }
  const Credential* c = nullptr;
  if (auto refused = Authenticate(req, counters, &c)) return refused;
  if (!Allows(*c, role)) {
    counters->forbidden.fetch_add(1, std::memory_order_relaxed);
    Refusals().Warn("credential '" + c->name + "' lacks the role " + std::string(RoleName(role)),
                    req);
    return JsonError(403, "this credential lacks the role " + std::string(RoleName(role)));
  }
  identity->credential = c;
  identity->ingest_cluster = std::string(IngestCluster(*c));
  return std::nullopt;
}

}  // namespace vigil::api
