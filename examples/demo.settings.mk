# Example settings for `postfix-tls-relay demo` (npm start). Same syntax and names as the
# tls-based-postfix-mailrelay Makefile's settings.mk; the new settings are marked "new".

days                    := 397
ca_key_bits             := 4096
ca_key_cipher           := aes256
csr_digest              := sha256
signature_hash          := sha256

domain                  := example.org
smtp_client_hostname    := mailhost
# new: more clients besides smtp_client_hostname
smtp_client_hostnames   := backup-mailhost
smtpd_server_hostname   := relayhost
cert_req_country        := NL
cert_req_state          := Noord-Brabant
cert_req_locality       := Oss
cert_req_organization   := Example Inc.
cert_req_ou             := IT Department
ca_cert_req_cn          := ${domain} relay CA

smtp_client_fqdn        := ${smtp_client_hostname}.${domain}
smtp_client_ssh_user    := root
smtp_client_tls_loglevel := 1

smtpd_server_fqdn       := ${smtpd_server_hostname}.${domain}
smtpd_server_ssh_user   := root
smtpd_server_port       := 2500
smtpd_server_relay_clientcerts_in := /etc/postfix/relay_clientcerts
smtpd_server_tls_loglevel := 1

# new: EC P-256 keys are fast and small; rsa (with ca_key_bits/key_bits) works too
key_algorithm           := ec
# The demo's throwaway GnuPG home encrypts this file; use your own key for a real setup.
certs_passphrase_file   := ca-passphrase.gpg
