// A small PKI for TLS tests, made with OpenSSL at run time (nothing checked in): a CA, a server
// certificate for 127.0.0.1 / localhost, client certificates (good, expired, self-signed, from
// another CA), written as PEM files into a directory.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace vigil::api::testing {

struct KeyPair {
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509> cert;
};

inline std::shared_ptr<EVP_PKEY> NewKey() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (k == nullptr) throw std::runtime_error("EVP_EC_gen failed");
  return {k, EVP_PKEY_free};
}

inline void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) throw std::runtime_error("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn` signed by `issuer` (self-signed when null), valid from now + from_s to
// now + to_s seconds. `san` like "IP:127.0.0.1,DNS:localhost" (or empty).
inline KeyPair MakeCert(const std::string& cn, const KeyPair* issuer, bool is_ca, long from_s,
                        long to_s, const std::string& san = "") {
  static long serial = 1;
  KeyPair out;
  out.key = NewKey();
  out.cert = std::shared_ptr<X509>(X509_new(), X509_free);
  X509* c = out.cert.get();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(c), from_s);
  X509_gmtime_adj(X509_getm_notAfter(c), to_s);
  X509_set_pubkey(c, out.key.get());
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("vigil tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : c;
  X509_set_issuer_name(c, X509_get_subject_name(issuer_cert));
  AddExtension(c, issuer_cert, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE");
  AddExtension(c, issuer_cert, NID_subject_key_identifier, "hash");
  if (is_ca) {
    AddExtension(c, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(c, issuer_cert, NID_key_usage, "critical,digitalSignature");
    AddExtension(c, issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  if (!san.empty()) AddExtension(c, issuer_cert, NID_subject_alt_name, san);
  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : out.key.get();
  if (X509_sign(c, signer, EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");
  return out;
}

inline void WritePem(const std::string& path, const KeyPair& kp, bool key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  const int ok = key ? PEM_write_PrivateKey(f, kp.key.get(), nullptr, nullptr, 0, nullptr, nullptr)
                     : PEM_write_X509(f, kp.cert.get());
  std::fclose(f);
  if (ok != 1) throw std::runtime_error("cannot write PEM " + path);
}

// The files of a test PKI in `dir`: ca.pem; server.pem/server.key (CN localhost, SAN 127.0.0.1);
// client.pem/client.key (CN prod-eu-apiserver); stranger.pem/.key (trusted CA, CN nobody-known);
// expired.pem/.key (trusted CA, expired); self.pem/.key (self-signed); rogue.pem/.key (signed by
// another CA, CN prod-eu-apiserver); other-ca.pem.
struct TestPki {
  explicit TestPki(const std::string& dir) : dir(dir) {
    const long day = 24 * 3600;
    ca = MakeCert("vigil test CA", nullptr, true, -day, 30 * day);
    KeyPair other = MakeCert("another CA", nullptr, true, -day, 30 * day);
    WritePem(Path("ca.pem"), ca, false);
    WritePem(Path("other-ca.pem"), other, false);
    Write("server",
          MakeCert("localhost", &ca, false, -day, 30 * day, "IP:127.0.0.1,DNS:localhost"));
    Write("client", MakeCert("prod-eu-apiserver", &ca, false, -day, 30 * day,
                             "DNS:apiserver.prod-eu.example"));
    Write("stranger", MakeCert("nobody-known", &ca, false, -day, 30 * day));
    Write("expired", MakeCert("prod-eu-apiserver", &ca, false, -30 * day, -day));
    Write("self", MakeCert("prod-eu-apiserver", nullptr, false, -day, 30 * day));
    Write("rogue", MakeCert("prod-eu-apiserver", &other, false, -day, 30 * day));
  }
  void Write(const std::string& name, const KeyPair& kp) {
    WritePem(Path(name + ".pem"), kp, false);
    WritePem(Path(name + ".key"), kp, true);
  }
  std::string Path(const std::string& file) const { return dir + "/" + file; }
  // Writes a new server.pem/server.key for `cn` from the same CA (a certificate rotation).
  void RotateServer(const std::string& cn) {
    Write("server", MakeCert(cn, &ca, false, -3600, 30 * 24 * 3600, "IP:127.0.0.1,DNS:localhost"));
  }

  std::string dir;
  KeyPair ca;
};

}  // namespace vigil::api::testing
