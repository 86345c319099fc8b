"""The credit code (信用码): a resident-held SD-JWT VC, its issuance (OpenID4VCI), and its
presentation to verifiers online (a request with a nonce) and offline (a QR code alone)."""
