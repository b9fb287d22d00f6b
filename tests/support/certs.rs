//! The TLS tests' certificates, made once per test binary when first asked for (rcgen, on
//! ring) into a temp dir that lives as long as the process; none is committed. Every key
//! is P-256, every keystore a private key (unencrypted PKCS#8) then its certificate, as
//! Kafka's `ssl.keystore.type=PEM` reads one:
//!
//! - `ca.pem`: a CA, "CN=Rafka Test CA"
//! - `server.pem`: "CN=localhost", for localhost and 127.0.0.1, signed by the CA
//! - `server-renewed.pem`: the same subject and names, another key (a renewal)
//! - `server-other.pem`: "CN=other", the same names (a reload refused unless
//!   `ssl.allow.dn.changes=true`)
//! - `client.pem`: a client certificate "CN=client one,OU=eng,O=Rafka,C=US" (as Java writes
//!   it), signed by the CA
//! - `stranger.pem`: a self-signed client certificate no truststore vouches for
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// The dir holding the certificates (made on first call).
pub fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        make(dir.path());
        dir
    })
    .path()
}

/// One of the certificates above, by file name.
pub fn path(name: &str) -> PathBuf {
    dir().join(name)
}

fn params(subject: &[(DnType, &str)]) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for (kind, value) in subject {
        dn.push(kind.clone(), *value);
    }
    p.distinguished_name = dn;
    p
}

fn keystore(dir: &Path, name: &str, key: &KeyPair, cert: &Certificate) {
    std::fs::write(
        dir.join(name),
        format!("{}{}", key.serialize_pem(), cert.pem()),
    )
    .expect("write keystore");
}

fn make(dir: &Path) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = params(&[(DnType::CommonName, "Rafka Test CA")]);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write ca");

    let server = |subject: &str, file: &str| {
        let key = KeyPair::generate().expect("server key");
        let mut p = params(&[(DnType::CommonName, subject)]);
        p.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().expect("dns name")),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.signed_by(&key, &ca_cert, &ca_key).expect("server cert");
        keystore(dir, file, &key, &cert);
    };
    server("localhost", "server.pem");
    server("localhost", "server-renewed.pem");
    server("other", "server-other.pem");

    // the subject in DER order (most general first): Java writes it the other way round
    let key = KeyPair::generate().expect("client key");
    let mut client = params(&[
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "Rafka"),
        (DnType::OrganizationalUnitName, "eng"),
        (DnType::CommonName, "client one"),
    ]);
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = client
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("client cert");
    keystore(dir, "client.pem", &key, &cert);

    let key = KeyPair::generate().expect("stranger key");
    let mut stranger = params(&[(DnType::CommonName, "stranger")]);
    stranger.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = stranger.self_signed(&key).expect("stranger cert");
    keystore(dir, "stranger.pem", &key, &cert);
}
