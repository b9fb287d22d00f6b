//! SCRAM (RFC 5802) with SHA-256 and SHA-512 (RFC 7677), server side, as Kafka's
//! `ScramSaslServer` serves it: the client's first message names the user, the server
//! answers with its nonce, the user's salt and iteration count, the client proves it knows
//! the password, and the server's last message proves the server knows the credential.
//!
//! A credential ([`ScramCredential`]) holds no password: a salt, an iteration count and
//! the two keys derived from the salted password (StoredKey, ServerKey), as Kafka stores
//! them in its metadata (`UserScramCredentialRecord`). Credentials are looked up through
//! [`ScramCredentials`] (the broker's store, or a cluster's metadata image).
//!
//! PBKDF2, HMAC and the digests are `ring`'s; the client's proof is compared in constant
//! time. Messages are read as Kafka's `ScramMessages` read them (ASCII, its grammar), and
//! every failure the client sees is Kafka's generic one, except an authorization id that is
//! not the user, which Kafka names.

use std::fmt;
use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

/// A SCRAM mechanism Kafka knows, with its type code in the APIs and metadata records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// Kafka's lowest iteration count (`ScramMechanism.minIterations`), for both.
    pub const MIN_ITERATIONS: i32 = 4096;
    /// The highest an AlterUserScramCredentials may set (Kafka's controller's limit).
    pub const MAX_ITERATIONS: i32 = 16384;

    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// Its code in AlterUserScramCredentials, DescribeUserScramCredentials and the
    /// metadata records (0 is UNKNOWN in Kafka).
    pub fn type_code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_type(code: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL
            .into_iter()
            .find(|m| m.type_code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    fn hmac(self) -> ring::hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => ring::hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => ring::hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static ring::digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &ring::digest::SHA256,
            ScramMechanism::Sha512 => &ring::digest::SHA512,
        }
    }

    fn pbkdf2(self) -> ring::pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    /// The digest's length in bytes: every key and proof has it.
    pub fn key_len(self) -> usize {
        self.digest().output_len()
    }

    fn hmac_of(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = ring::hmac::Key::new(self.hmac(), key);
        ring::hmac::sign(&key, data).as_ref().to_vec()
    }

    /// Hi(password, salt, i) of RFC 5802: PBKDF2 with HMAC of the mechanism's digest.
    /// `None` for an iteration count below 1.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: i32) -> Option<Vec<u8>> {
        let rounds = NonZeroU32::new(u32::try_from(iterations).ok()?)?;
        let mut out = vec![0; self.key_len()];
        ring::pbkdf2::derive(self.pbkdf2(), rounds, salt, password, &mut out);
        Some(out)
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the server keeps of a user's password for one mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    /// H(ClientKey): what the client's proof is checked against.
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key"): what the server signs its last message with.
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential of a salted password, as Kafka's controller makes it from an
    /// AlterUserScramCredentials upsertion (the client salts the password itself).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac_of(salted_password, b"Client Key");
        ScramCredential {
            salt,
            stored_key: ring::digest::digest(mechanism.digest(), &client_key)
                .as_ref()
                .to_vec(),
            server_key: mechanism.hmac_of(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// The credential of a password (tests, and tools that take one).
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: Vec<u8>,
        iterations: i32,
    ) -> Option<ScramCredential> {
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations)?;
        Some(Self::from_salted_password(
            mechanism, salt, &salted, iterations,
        ))
    }
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // as Kafka's ScramCredentialValue: nothing of the keys
        f.write_str("ScramCredential([hidden])")
    }
}

/// Where credentials are looked up: the broker's store, or a cluster's metadata image.
pub trait ScramCredentials: Send + Sync + fmt::Debug {
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential>;
}

/// No credentials at all (a listener that offers no SCRAM).
impl ScramCredentials for () {
    fn scram_credential(&self, _: &str, _: ScramMechanism) -> Option<ScramCredential> {
        None
    }
}

impl ScramCredentials for std::collections::BTreeMap<(String, ScramMechanism), ScramCredential> {
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.get(&(user.to_string(), mechanism)).cloned()
    }
}

/// Why an exchange failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// What Kafka answers with its generic message ("invalid credentials"); the reason is
    /// for the broker's log only, and holds no secret.
    #[error("{0}")]
    Refused(String),
    /// What Kafka tells the client in its own words.
    #[error("{0}")]
    Told(String),
}

/// What a client message leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// The server-first-message; the client's final message comes next.
    ServerFirst(Vec<u8>),
    /// Authenticated as `user`; the server-final-message goes back.
    Complete { server_final: Vec<u8>, user: String },
}

/// One exchange.
#[derive(Debug)]
pub struct ScramExchange {
    mechanism: ScramMechanism,
    state: State,
}

#[derive(Debug)]
enum State {
    ClientFirst,
    ClientFinal {
        user: String,
        credential: ScramCredential,
        /// client-first-message-bare "," server-first-message ","
        auth_prefix: String,
        /// the client's nonce and the server's, as the client must send them back
        nonce: String,
    },
    Done,
}

impl ScramExchange {
    pub fn new(mechanism: ScramMechanism) -> Self {
        ScramExchange {
            mechanism,
            state: State::ClientFirst,
        }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Takes the client's next message.
    pub fn evaluate(
        &mut self,
        message: &[u8],
        credentials: &dyn ScramCredentials,
    ) -> Result<ScramStep, ScramError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::ClientFirst => self.client_first(message, credentials),
            State::ClientFinal {
                user,
                credential,
                auth_prefix,
                nonce,
            } => self.client_final(message, user, &credential, &auth_prefix, &nonce),
            State::Done => Err(ScramError::Refused(
                "a message after the exchange ended".into(),
            )),
        }
    }

    fn client_first(
        &mut self,
        message: &[u8],
        credentials: &dyn ScramCredentials,
    ) -> Result<ScramStep, ScramError> {
        let first = ClientFirst::parse(message).ok_or_else(|| {
            ScramError::Refused("invalid SCRAM client first message format".into())
        })?;
        if first
            .extensions
            .iter()
            .any(|(k, v)| *k == "tokenauth" && *v == "true")
        {
            // delegation tokens: Rafka issues none, so no token id is valid
            return Err(ScramError::Refused(format!(
                "token authentication: no delegation token {}",
                first.user
            )));
        }
        let credential = credentials
            .scram_credential(&first.user, self.mechanism)
            .ok_or_else(|| {
                ScramError::Refused(format!("no {} credential for the user", self.mechanism))
            })?;
        if let Some(authzid) = first.authzid.as_deref() {
            if !authzid.is_empty() && authzid != first.user {
                return Err(ScramError::Told(
                    "Authentication failed: Client requested an authorization id that is \
                     different from username"
                        .into(),
                ));
            }
        }
        if credential.iterations < ScramMechanism::MIN_ITERATIONS {
            return Err(ScramError::Refused(format!(
                "Iterations {} is less than the minimum {} for {}",
                credential.iterations,
                ScramMechanism::MIN_ITERATIONS,
                self.mechanism
            )));
        }
        let mut random = [0u8; 18];
        ring::rand::SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| ScramError::Refused("no random bytes for the server nonce".into()))?;
        let nonce = format!("{}{}", first.nonce, STANDARD.encode(random));
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&credential.salt),
            credential.iterations
        );
        let auth_prefix = format!("{},{server_first},", first.bare);
        self.state = State::ClientFinal {
            user: first.user,
            credential,
            auth_prefix,
            nonce,
        };
        Ok(ScramStep::ServerFirst(server_first.into_bytes()))
    }

    fn client_final(
        &mut self,
        message: &[u8],
        user: String,
        credential: &ScramCredential,
        auth_prefix: &str,
        nonce: &str,
    ) -> Result<ScramStep, ScramError> {
        let last = ClientFinal::parse(message).ok_or_else(|| {
            ScramError::Refused("invalid SCRAM client final message format".into())
        })?;
        if last.nonce != nonce {
            return Err(ScramError::Refused(
                "Invalid client nonce in the final client message.".into(),
            ));
        }
        let m = self.mechanism;
        let auth_message = format!("{auth_prefix}{}", last.without_proof);
        let client_signature = m.hmac_of(&credential.stored_key, auth_message.as_bytes());
        if last.proof.len() != client_signature.len() {
            return Err(ScramError::Refused("Invalid client credentials".into()));
        }
        let client_key: Vec<u8> = last
            .proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let stored_key = ring::digest::digest(m.digest(), &client_key);
        if !bool::from(stored_key.as_ref().ct_eq(&credential.stored_key)) {
            return Err(ScramError::Refused("Invalid client credentials".into()));
        }
        let server_signature = m.hmac_of(&credential.server_key, auth_message.as_bytes());
        Ok(ScramStep::Complete {
            server_final: format!("v={}", STANDARD.encode(server_signature)).into_bytes(),
            user,
        })
    }
}

/// `n,[a=<saslname>],[m=<value>,]n=<saslname>,r=<nonce>[,<ext>=<value>]*`.
#[derive(Debug)]
struct ClientFirst<'a> {
    authzid: Option<String>,
    user: String,
    nonce: &'a str,
    extensions: Vec<(&'a str, &'a str)>,
    /// client-first-message-bare: from `n=` on
    bare: &'a str,
}

impl<'a> ClientFirst<'a> {
    fn parse(message: &'a [u8]) -> Option<ClientFirst<'a>> {
        let text = std::str::from_utf8(message)
            .ok()
            .filter(|t| is_ascii_value(t, true))?;
        // gs2-header: no channel binding ("n"), an optional authorization id
        let rest = text.strip_prefix("n,")?;
        let (authzid, rest) = rest.split_once(',')?;
        let authzid = match authzid {
            "" => None,
            a => Some(sasl_name(a.strip_prefix("a=")?)?),
        };
        let rest = match rest.strip_prefix("m=") {
            Some(reserved) => reserved.split_once(',')?.1,
            None => rest,
        };
        let bare = rest;
        let mut fields = rest.split(',');
        let user = sasl_name(fields.next()?.strip_prefix("n=")?)?;
        let nonce = fields.next()?.strip_prefix("r=")?;
        if !is_printable(nonce) {
            return None;
        }
        let extensions = fields.map(extension).collect::<Option<Vec<_>>>()?;
        Some(ClientFirst {
            authzid,
            user,
            nonce,
            extensions,
            bare,
        })
    }
}

/// `c=<base64>,r=<nonce>[,<ext>=<value>]*,p=<base64>`.
#[derive(Debug)]
struct ClientFinal<'a> {
    nonce: &'a str,
    proof: Vec<u8>,
    /// client-final-message-without-proof
    without_proof: &'a str,
}

impl<'a> ClientFinal<'a> {
    fn parse(message: &'a [u8]) -> Option<ClientFinal<'a>> {
        let text = std::str::from_utf8(message)
            .ok()
            .filter(|t| is_ascii_value(t, true))?;
        let (without_proof, proof) = text.rsplit_once(",p=")?;
        let mut fields = without_proof.split(',');
        // the channel binding is not checked, as in Kafka (which offers none)
        STANDARD.decode(fields.next()?.strip_prefix("c=")?).ok()?;
        let nonce = fields.next()?.strip_prefix("r=")?;
        if !is_printable(nonce) || fields.map(extension).any(|e| e.is_none()) {
            return None;
        }
        Some(ClientFinal {
            nonce,
            proof: STANDARD.decode(proof).ok()?,
            without_proof,
        })
    }
}

/// Kafka's VALUE: `[\x01-\x7F]` (and no `,` where `commas` is false).
fn is_ascii_value(s: &str, commas: bool) -> bool {
    s.bytes()
        .all(|b| (0x01..=0x7f).contains(&b) && (commas || b != b','))
}

/// Kafka's PRINTABLE: `[\x21-\x7E]` but `,`, at least one.
fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// `<ALPHA>+=<VALUE>`.
fn extension(field: &str) -> Option<(&str, &str)> {
    let (key, value) = field.split_once('=')?;
    (!key.is_empty()
        && key.bytes().all(|b| b.is_ascii_alphabetic())
        && !value.is_empty()
        && is_ascii_value(value, false))
    .then_some((key, value))
}

/// A saslname with `=2C` and `=3D` undone (RFC 5802), or `None` if it is not one.
fn sasl_name(escaped: &str) -> Option<String> {
    if escaped.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// The client's side of one SCRAM exchange (RFC 5802, no channel binding): what a broker
/// sends to log in to another broker's SASL listener as its inter-broker user.
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    /// `n=<user>,r=<client nonce>`: the client-first message without its GS2 header.
    first_bare: String,
    nonce: String,
    /// What the server must sign with, once the final message is sent.
    server_signature: Option<Vec<u8>>,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScramClient({})", self.mechanism)
    }
}

impl ScramClient {
    /// A new exchange for `user`, with a fresh random nonce.
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str) -> Result<Self, ScramError> {
        let mut random = [0u8; 24];
        ring::rand::SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| ScramError::Refused("no random bytes for the client nonce".into()))?;
        let nonce = STANDARD.encode(random);
        let name = user.replace('=', "=3D").replace(',', "=2C");
        Ok(ScramClient {
            mechanism,
            password: password.to_string(),
            first_bare: format!("n={name},r={nonce}"),
            nonce,
            server_signature: None,
        })
    }

    /// The client-first message.
    pub fn first_message(&self) -> Vec<u8> {
        format!("n,,{}", self.first_bare).into_bytes()
    }

    /// The client-final message answering the server-first one (its nonce must extend
    /// ours, and its iteration count be at least the mechanism's minimum).
    pub fn final_message(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let refused = |why: &str| ScramError::Refused(format!("server-first message: {why}"));
        let text = std::str::from_utf8(server_first).map_err(|_| refused("not UTF-8"))?;
        let field = |name: &str| {
            text.split(',')
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        };
        let nonce = field("r").ok_or_else(|| refused("no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(refused("the nonce does not extend the client's"));
        }
        let salt = field("s")
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or_else(|| refused("no salt"))?;
        let iterations: i32 = field("i")
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| refused("no iteration count"))?;
        // (and not so many that PBKDF2 would hold a worker thread for long)
        if !(ScramMechanism::MIN_ITERATIONS..=ScramMechanism::MAX_ITERATIONS).contains(&iterations)
        {
            return Err(refused("an iteration count out of Kafka's bounds"));
        }
        let m = self.mechanism;
        let salted = m
            .salted_password(self.password.as_bytes(), &salt, iterations)
            .ok_or_else(|| refused("bad iteration count"))?;
        let client_key = m.hmac_of(&salted, b"Client Key");
        let stored_key = ring::digest::digest(m.digest(), &client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.first_bare);
        let signature = m.hmac_of(stored_key.as_ref(), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac_of(&salted, b"Server Key");
        self.server_signature = Some(m.hmac_of(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the server proved it knows the credential.
    pub fn verify_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| ScramError::Refused("server-final message: not UTF-8".into()))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramError::Told(e.to_string()));
        }
        let told = text
            .split(',')
            .find_map(|f| f.strip_prefix("v="))
            .and_then(|v| STANDARD.decode(v).ok());
        match (&self.server_signature, told) {
            (Some(want), Some(got)) if bool::from(want.ct_eq(&got)) => Ok(()),
            _ => Err(ScramError::Refused(
                "server-final message: the server's signature does not match".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// RFC 7677's example: user "user", password "pencil", salt and nonces as given.
    #[test]
    fn rfc7677_example_is_checked_and_signed_as_the_rfc_says() {
        let salt = STANDARD
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .expect("test input");
        let credential =
            ScramCredential::from_password(ScramMechanism::Sha256, "pencil", salt, 4096)
                .expect("test input");
        let store = BTreeMap::from([(("user".to_string(), ScramMechanism::Sha256), credential)]);
        let mut x = ScramExchange::new(ScramMechanism::Sha256);
        let Ok(ScramStep::ServerFirst(first)) =
            x.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &store)
        else {
            panic!("no server-first-message")
        };
        let first = String::from_utf8(first).expect("test input");
        assert!(first.starts_with("r=rOprNGfwEbeRWgbNEkqO"), "{first}");
        assert!(
            first.ends_with(",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            "{first}"
        );
        // the RFC's server nonce, so that its proof is the RFC's proof
        let State::ClientFinal {
            ref mut auth_prefix,
            ref mut nonce,
            ..
        } = x.state
        else {
            panic!("waits for the final message")
        };
        *nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into();
        *auth_prefix =
            format!("n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,");
        let last = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                     p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            x.evaluate(last, &store),
            Ok(ScramStep::Complete {
                server_final: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
                user: "user".into()
            })
        );
    }

    /// A whole exchange between [`ScramClient`] and [`ScramExchange`].
    fn client(
        m: ScramMechanism,
        user: &str,
        password: &str,
        store: &dyn ScramCredentials,
    ) -> Result<ScramStep, ScramError> {
        let mut c = ScramClient::new(m, user, password)?;
        let mut x = ScramExchange::new(m);
        let ScramStep::ServerFirst(first) = x.evaluate(&c.first_message(), store)? else {
            panic!("completed on the first message")
        };
        let last = c.final_message(&first)?;
        let step = x.evaluate(&last, store)?;
        if let ScramStep::Complete { server_final, .. } = &step {
            c.verify_final(server_final)
                .expect("the server proves its key");
            assert!(
                c.verify_final(b"v=AAAA").is_err(),
                "another signature is refused"
            );
        }
        Ok(step)
    }

    #[test]
    fn sha512_logs_in_with_the_password_only() {
        let m = ScramMechanism::Sha512;
        let credential = ScramCredential::from_password(m, "s3cret", b"salty".to_vec(), 4096);
        let store =
            BTreeMap::from([(("carol,=x".to_string(), m), credential.expect("test input"))]);
        // a user name with the characters SCRAM escapes
        match client(m, "carol,=x", "s3cret", &store) {
            Ok(ScramStep::Complete { user, .. }) => assert_eq!(user, "carol,=x"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            client(m, "carol,=x", "s3creT", &store),
            Err(ScramError::Refused(_))
        ));
        // the same password under the other mechanism has no credential
        assert!(matches!(
            client(ScramMechanism::Sha256, "carol,=x", "s3cret", &store),
            Err(ScramError::Refused(_))
        ));
        assert!(client(m, "dave", "s3cret", &store).is_err());
    }

    #[test]
    fn malformed_and_out_of_turn_messages_are_refused() {
        let m = ScramMechanism::Sha256;
        let credential =
            ScramCredential::from_password(m, "pw", b"salt".to_vec(), 4096).expect("test input");
        let store = BTreeMap::from([(("u".to_string(), m), credential)]);
        for bad in [
            &b""[..],
            b"y,,n=u,r=abc",
            b"p=tls-unique,,n=u,r=abc",
            b"n,,n=,r=abc",
            b"n,,n=u=2X,r=abc",
            b"n,,n=u,r=",
            b"n,,n=u,r=a b",
            b"n,,n=u",
            b"n,,n=\xc3\xa9,r=abc",
            b"n,,n=u,r=abc,1=x",
            b"n,,n=u,r=abc,tokenauth=true",
        ] {
            let mut x = ScramExchange::new(m);
            assert!(
                x.evaluate(bad, &store).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut x = ScramExchange::new(m);
        assert_eq!(
            x.evaluate(b"n,a=v,n=u,r=abc", &store),
            Err(ScramError::Told(
                "Authentication failed: Client requested an authorization id that is \
                 different from username"
                    .into()
            ))
        );
        // a final message with another nonce, a short proof, or none
        for last in [
            "c=biws,r=abcWRONG,p=AAAA",
            "c=biws,r={nonce},p=AAAA",
            "c=biws,r={nonce}",
            "c=**,r={nonce},p=AAAA",
        ] {
            let mut x = ScramExchange::new(m);
            let Ok(ScramStep::ServerFirst(first)) = x.evaluate(b"n,,n=u,r=abc", &store) else {
                panic!("no server-first-message")
            };
            let first = String::from_utf8(first).expect("test input");
            let nonce = first
                .split(',')
                .next()
                .expect("test input")
                .strip_prefix("r=")
                .expect("test input");
            let last = last.replace("{nonce}", nonce);
            assert!(x.evaluate(last.as_bytes(), &store).is_err(), "{last}");
            assert!(x.evaluate(last.as_bytes(), &store).is_err(), "ended");
        }
        // a stored credential below Kafka's minimum iteration count is not used
        let weak =
            ScramCredential::from_password(m, "pw", b"salt".to_vec(), 100).expect("test input");
        let store = BTreeMap::from([(("u".to_string(), m), weak)]);
        assert!(client(m, "u", "pw", &store).is_err());
    }

    #[test]
    fn mechanisms_have_kafkas_names_and_codes() {
        for m in ScramMechanism::ALL {
            assert_eq!(ScramMechanism::from_name(m.name()), Some(m));
            assert_eq!(ScramMechanism::from_type(m.type_code()), Some(m));
        }
        assert_eq!(ScramMechanism::Sha512.type_code(), 2);
        assert_eq!(ScramMechanism::from_type(0), None);
        assert_eq!(ScramMechanism::from_name("scram-sha-256"), None);
        assert_eq!(
            format!(
                "{:?}",
                ScramCredential::from_password(ScramMechanism::Sha256, "pw", vec![1], 4096)
            ),
            "Some(ScramCredential([hidden]))"
        );
    }
}
