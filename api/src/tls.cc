// The server's OpenSSL context and client certificate identities.
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace vigil::api {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2: forward secrecy and AEAD only (Mozilla's "intermediate" list). TLS 1.3 uses its own,
// all of which are modern.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string OpenSslReason(const boost::system::error_code& ec) {
  std::string why = ec ? ec.message() : std::string();
  if (unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (why.empty() || why.find(buf) == std::string::npos)
      why += (why.empty() ? "" : ": ") + std::string(buf);
  }
  ERR_clear_error();
  return why.empty() ? "unknown error" : why;
}

Status Failed(std::string_view what, const std::string& file, const boost::system::error_code& ec) {
  return Status::InvalidArgument(std::string(what) + " '" + file + "': " + OpenSslReason(ec));
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeServerTlsContext(const TlsOptions& o) {
  if (o.cert_file.empty() || o.key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate file and a key file");
  }
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(h, kTls12Ciphers) != 1) {
    return Status::Internal("TLS: cannot set the protocol versions or ciphers: " +
                            OpenSslReason({}));
  }
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use | ssl::context::no_compression);
  SSL_CTX_set_options(h, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  if (ctx->use_certificate_chain_file(o.cert_file, ec); ec) {
    return Failed("TLS certificate", o.cert_file, ec);
  }
  if (ctx->use_private_key_file(o.key_file, ssl::context::pem, ec); ec) {
    return Failed("TLS key", o.key_file, ec);
  }
  if (SSL_CTX_check_private_key(h) != 1) {
    return Failed("TLS key (does not match the certificate)", o.key_file, {});
  }
  // Sessions resumed across the verify setting need an id context.
  static constexpr unsigned char kSessionContext[] = "vigil";
  SSL_CTX_set_session_id_context(h, kSessionContext, sizeof kSessionContext - 1);
  if (!o.client_ca_file.empty()) {
    if (ctx->load_verify_file(o.client_ca_file, ec); ec) {
      return Failed("TLS client CA bundle", o.client_ca_file, ec);
    }
    // Tell clients which CAs we accept (curl and the apiserver pick their certificate by it).
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(h, names);
    }
    ssl::verify_mode mode = ssl::verify_peer;
    if (o.require_client_cert) mode |= ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode);
  } else if (o.require_client_cert) {
    return Status::InvalidArgument("TLS: require_client_cert needs a client CA bundle");
  }
  ERR_clear_error();
  return ctx;
}

bool VerifiedPeerIdentity(SSL* ssl, std::string* cn, std::vector<std::string>* sans) {
  cn->clear();
  sans->clear();
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return false;
  if (X509_NAME* subject = X509_get_subject_name(cert)) {
    int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i >= 0) {
      ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
      unsigned char* utf8 = nullptr;
      int len = ASN1_STRING_to_UTF8(&utf8, data);
      if (len > 0) cn->assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
      OPENSSL_free(utf8);
    }
  }
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && sans->size() < 64; ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      const ASN1_IA5STRING* s = nullptr;
      if (n->type == GEN_DNS) s = n->d.dNSName;
      if (n->type == GEN_URI) s = n->d.uniformResourceIdentifier;
      if (n->type == GEN_EMAIL) s = n->d.rfc822Name;
      if (s == nullptr) continue;
      sans->emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(names);
  }
  return true;
}

}  // namespace vigil::api
