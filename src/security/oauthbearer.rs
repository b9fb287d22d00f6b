//! OAUTHBEARER (RFC 7628) with Kafka's unsecured tokens (KIP-255), read as Kafka's
//! `OAuthBearerClientInitialResponse`, `OAuthBearerUnsecuredJws` and
//! `OAuthBearerUnsecuredValidatorCallbackHandler` read them: for development, where no
//! identity provider signs the tokens. A token is a JWS with `"alg":"none"` and no
//! signature; its claims name the user (`sub`, or `unsecuredValidatorPrincipalClaimName`),
//! must hold an expiry (`exp`, seconds since the epoch) not yet past, an issue time (`iat`)
//! if any not in the future, and the scopes `unsecuredValidatorRequiredScope` asks for.
//! Clock skew up to `unsecuredValidatorAllowableClockSkewMs` is forgiven.

use base64::Engine;
use serde_json::{Map, Value};

use crate::config::UnsecuredTokens;

/// What a client's first message says: the token and the authorization id it asks for
/// (empty: none). Extensions are accepted and unused, as Kafka's unsecured validator
/// accepts every one.
#[derive(Debug, PartialEq, Eq)]
pub struct InitialResponse {
    pub token: String,
    pub authorization_id: String,
}

/// `n,[a=<authzid>],^A<key>=<value>^A...^A`, with an `auth=Bearer <token>` pair. `None`:
/// not such a message (Kafka answers it with its generic failure).
pub fn initial_response(message: &[u8]) -> Option<InitialResponse> {
    let text = std::str::from_utf8(message).ok()?;
    let rest = text.strip_prefix("n,")?;
    let (authz, rest) = rest.split_once(',')?;
    let authorization_id = match authz {
        "" => String::new(),
        a => sasl_name(a.strip_prefix("a=")?)?,
    };
    // ^A, then pairs each ended by ^A, then the closing ^A
    let pairs = rest.strip_prefix('\u{1}')?.strip_suffix('\u{1}')?;
    let mut auth = None;
    if !pairs.is_empty() {
        let pairs = pairs.strip_suffix('\u{1}')?;
        for pair in pairs.split('\u{1}') {
            let (key, value) = pair.split_once('=')?;
            let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic());
            let value_ok = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) || b" \t\r\n".contains(&b));
            if !key_ok || !value_ok {
                return None;
            }
            if key == "auth" {
                auth = Some(value);
            }
        }
    }
    let (scheme, token) = auth?.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let body = token.trim_end_matches('=');
    let token_ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_~+/.".contains(&b));
    if !scheme_ok || !token_ok || !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(InitialResponse {
        token: token.to_string(),
        authorization_id,
    })
}

/// RFC 5801's `saslname`: US-ASCII without `,` and `=`, those two written `=2C` and `=3D`.
fn sasl_name(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("=2C") {
            out.push(',');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("=3D") {
            out.push('=');
            rest = r;
        } else if c == '=' || c == ',' || c == '\0' || !c.is_ascii() {
            return None;
        } else {
            out.push(c);
            rest = &rest[1..];
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A token that checked out.
#[derive(Debug, PartialEq, Eq)]
pub struct ValidToken {
    pub principal: String,
    /// When it expires, in ms since the epoch: the session ends then (KIP-368).
    pub expires_ms: i64,
}

/// Why a token was refused: RFC 7628's error status (`invalid_token`, or
/// `insufficient_scope` with the scope needed) and, for the log, what was wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenError {
    pub status: &'static str,
    pub scope: Option<String>,
    pub reason: String,
}

impl TokenError {
    fn invalid(reason: impl Into<String>) -> Self {
        TokenError {
            status: "invalid_token",
            scope: None,
            reason: reason.into(),
        }
    }

    /// The JSON error the server sends as its challenge (and, once the client has
    /// acknowledged it, as the failure's message), as Kafka writes it.
    pub fn json(&self) -> String {
        match &self.scope {
            Some(scope) => format!(r#"{{"status":"{}", "scope":"{scope}"}}"#, self.status),
            None => format!(r#"{{"status":"{}"}}"#, self.status),
        }
    }
}

/// Checks an unsecured token at `now_ms` (ms since the epoch).
pub fn validate(
    token: &str,
    rules: &UnsecuredTokens,
    now_ms: i64,
) -> Result<ValidToken, TokenError> {
    if token.contains("..") {
        return Err(TokenError::invalid(
            "Malformed compact serialization contains '..'",
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(TokenError::invalid(
            "Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values",
        ));
    };
    let header = json_object(header)?;
    let claims = json_object(claims)?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err(TokenError::invalid(
            "Unsecured JWS must have 'none' for an algorithm",
        ));
    }
    if !signature.is_empty() {
        return Err(TokenError::invalid(
            "Unsecured JWS must not contain a digital signature",
        ));
    }
    // as Kafka: a string is one scope, a list holds several, anything else is no token
    let scope: Vec<String> = match claims.get(&rules.scope_claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![s.trim().to_string()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map_or_else(|| v.to_string(), |s| s.trim().to_string())
            })
            .filter(|s| !s.is_empty())
            .collect(),
        Some(_) => {
            return Err(TokenError::invalid(format!(
                "The '{}' claim was not of type List",
                rules.scope_claim
            )))
        }
    };
    let seconds_to_ms = |v: &Value| v.as_f64().map(|s| (s * 1000.0) as i64);
    let expires_ms = match claims.get("exp") {
        None => return Err(TokenError::invalid("No expiration time in JWT")),
        Some(v) => seconds_to_ms(v)
            .ok_or_else(|| TokenError::invalid("The 'exp' claim was not of type Number"))?,
    };
    let principal = match claims.get(&rules.principal_claim) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None => {
            return Err(TokenError::invalid(format!(
                "No principal name in JWT claim: {}",
                rules.principal_claim
            )))
        }
        Some(_) => {
            return Err(TokenError::invalid(format!(
                "The '{}' claim was not of type String",
                rules.principal_claim
            )))
        }
    };
    let skew = i64::try_from(rules.clock_skew_ms).unwrap_or(i64::MAX);
    let issued_ms = match claims.get("iat") {
        None => None,
        Some(v) => Some(
            seconds_to_ms(v)
                .ok_or_else(|| TokenError::invalid("The 'iat' claim was not of type Number"))?,
        ),
    };
    if let Some(iat) = issued_ms {
        if iat > now_ms.saturating_add(skew) {
            return Err(TokenError::invalid(
                "The Issued At value was after the current time even after adjusting for the \
                 allowable clock skew",
            ));
        }
    }
    if now_ms.saturating_sub(skew) >= expires_ms {
        return Err(TokenError::invalid(
            "The indicated time is past the expiration time even after adjusting for the \
             allowable clock skew",
        ));
    }
    if issued_ms.is_some_and(|iat| expires_ms <= iat) {
        return Err(TokenError::invalid(
            "The Expiration Time was not after the Issued At time",
        ));
    }
    if let Some(missing) = rules.required_scope.iter().find(|s| !scope.contains(s)) {
        return Err(TokenError {
            status: "insufficient_scope",
            scope: Some(rules.required_scope.join(" ")),
            reason: format!("The provided scope lacks a required scope: {missing}"),
        });
    }
    Ok(ValidToken {
        principal,
        expires_ms,
    })
}

/// A Base64URL (or Base64, as Java's decoder takes) JSON object.
fn json_object(part: &str) -> Result<Map<String, Value>, TokenError> {
    let trimmed = part.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|_| TokenError::invalid("malformed Base64 URL encoded value"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::invalid("malformed JSON")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn token(claims: &str) -> String {
        format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(claims))
    }

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn initial_responses_as_clients_send_them() {
        let t = token(r#"{"sub":"alice","exp":1700000100}"#);
        let msg = format!("n,,\u{1}auth=Bearer {t}\u{1}\u{1}");
        assert_eq!(
            initial_response(msg.as_bytes()),
            Some(InitialResponse {
                token: t.clone(),
                authorization_id: String::new()
            })
        );
        // librdkafka sends extensions; an authorization id is unescaped
        let msg = format!("n,a=al=2Cice,\u{1}auth=Bearer {t}\u{1}traceId=x1\u{1}\u{1}");
        assert_eq!(
            initial_response(msg.as_bytes()).map(|r| r.authorization_id),
            Some("al,ice".to_string())
        );
        for bad in [
            format!("y,,\u{1}auth=Bearer {t}\u{1}\u{1}"),
            format!("n,,\u{1}auth=Basic {t}\u{1}\u{1}"),
            format!("n,,\u{1}auth=Bearer {t}\u{1}"),
            "n,,\u{1}\u{1}".to_string(),
            format!("n,,\u{1}1x=y\u{1}auth=Bearer {t}\u{1}\u{1}"),
        ] {
            assert_eq!(initial_response(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn unsecured_tokens_are_checked_as_kafka_checks_them() {
        let rules = UnsecuredTokens::default();
        let ok = validate(
            &token(r#"{"sub":"alice","exp":1700000100,"iat":1699999990}"#),
            &rules,
            NOW,
        );
        assert_eq!(
            ok,
            Ok(ValidToken {
                principal: "alice".into(),
                expires_ms: 1_700_000_100_000
            })
        );
        let reason =
            |t: &str, rules: &UnsecuredTokens| validate(t, rules, NOW).expect_err(t).reason;
        assert!(
            reason(&token(r#"{"sub":"alice","exp":1699999999}"#), &rules)
                .contains("past the expiration")
        );
        assert!(reason(&token(r#"{"sub":"alice"}"#), &rules).contains("No expiration"));
        assert!(reason(&token(r#"{"exp":1700000100}"#), &rules).contains("No principal"));
        assert!(reason(
            &token(r#"{"sub":"a","exp":1700000100,"iat":1700000050}"#),
            &rules
        )
        .contains("Issued At"));
        let signed = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"sub":"a","exp":1700000100}"#)
        );
        assert!(reason(&signed, &rules).contains("digital signature"));
        let rs256 = format!(
            "{}.{}.",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"sub":"a","exp":1700000100}"#)
        );
        assert!(reason(&rs256, &rules).contains("'none'"));
        assert!(reason("a.b", &rules).contains("3 dot-separated"));
        // clock skew forgives a token just expired
        let skewed = UnsecuredTokens {
            clock_skew_ms: 5_000,
            ..UnsecuredTokens::default()
        };
        assert!(validate(&token(r#"{"sub":"a","exp":1699999998}"#), &skewed, NOW).is_ok());
        // scopes: a string or a list
        let scoped = UnsecuredTokens {
            required_scope: vec!["read".into(), "write".into()],
            ..UnsecuredTokens::default()
        };
        // a string is one scope, as Kafka reads it: "read write" is not read and write
        assert!(validate(
            &token(r#"{"sub":"a","exp":1700000100,"scope":"read write"}"#),
            &scoped,
            NOW
        )
        .is_err());
        assert!(validate(
            &token(r#"{"sub":"a","exp":1700000100,"scope":7}"#),
            &rules,
            NOW
        )
        .is_err());
        assert!(validate(
            &token(r#"{"sub":"a","exp":1700000100,"scope":["write","read"]}"#),
            &scoped,
            NOW
        )
        .is_ok());
        let e = validate(
            &token(r#"{"sub":"a","exp":1700000100,"scope":"read"}"#),
            &scoped,
            NOW,
        )
        .expect_err("scope");
        assert_eq!(
            e.json(),
            r#"{"status":"insufficient_scope", "scope":"read write"}"#
        );
        assert_eq!(
            TokenError::invalid("x").json(),
            r#"{"status":"invalid_token"}"#
        );
    }
}
