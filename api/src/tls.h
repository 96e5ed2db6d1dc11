// TLS for the server (private to the api room): the OpenSSL context built from TlsOptions, and
// the identity of a verified client certificate.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "vigil/api/http_server.h"
#include "vigil/core/status.h"

namespace vigil::api {

// A server context: TLS 1.2+, ECDHE + AEAD ciphers for TLS 1.2 (1.3's own suites), no
// compression, no renegotiation, the certificate chain and key (checked to match), and with
// client_ca_file the verification of client certificates. InvalidArgument naming the file and
// OpenSSL's reason when one does not load.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(const TlsOptions& options);

// The subject CN and the DNS, URI and email SANs of the peer's certificate, when it sent one and
// it was verified; false otherwise.
bool VerifiedPeerIdentity(SSL* ssl, std::string* cn, std::vector<std::string>* sans);

}  // namespace vigil::api
