//! Kafka's principal (`User:alice`) and how an SSL connection gets one, as Kafka's
//! `DefaultKafkaPrincipalBuilder` does: no client certificate is `User:ANONYMOUS`; a
//! certificate's subject, written as Java's `X500Principal.getName()` writes it (RFC
//! 2253: the most specific name first, `CN=client,OU=eng,O=Acme,C=US`), goes through
//! `ssl.principal.mapping.rules` ([`PrincipalMapper`]) and becomes `User:<name>`.
//!
//! The rules are Kafka's (KIP-371): a comma-separated list of `DEFAULT` (the subject
//! as it is) and `RULE:pattern/replacement/[L|U]`, tried in order; the first whose
//! pattern matches the whole subject gives the name, with `$1` for its groups and `L` or
//! `U` to change case. A subject no rule matches is refused, as Kafka refuses it. The
//! patterns are Rust `regex` patterns, which take Java's usual syntax but for
//! look-around and back-references; `\w`, `\d`, `\s` and `(?i)` are Unicode-aware (Java's
//! are ASCII unless asked). A replacement Java would throw on (`$` without a group
//! number, a group in a pattern that has none) is refused at start. Every match in the
//! subject is replaced, as `String.replaceAll` does, except that an empty match right
//! after another (`(.*)` matches `CN=a` and then the empty end) is skipped.

use regex::{Captures, Regex};
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Encode, Tag, Tagged};
use x509_cert::name::Name;

/// A principal as Kafka names it (`User:alice`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

impl KafkaPrincipal {
    /// Who a connection is before (or without) authentication: `User:ANONYMOUS`.
    pub fn anonymous() -> Self {
        KafkaPrincipal::user("ANONYMOUS")
    }

    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> Self {
        KafkaPrincipal {
            principal_type: "User".to_string(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// `ssl.principal.mapping.rules`, parsed.
#[derive(Clone, Debug)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
enum Rule {
    /// `DEFAULT`: the subject as it is.
    Default,
    /// `RULE:pattern/replacement/[LU]`.
    Replace {
        /// The pattern anchored at both ends: the rule applies if it matches the whole
        /// subject.
        whole: Regex,
        /// The pattern as given: every match in the subject is replaced.
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

impl PrincipalMapper {
    /// Parses a rule list; the error says which rule is wrong. An empty list, like
    /// Kafka's, has no rule at all (every subject is refused); leave the key out for
    /// `DEFAULT`.
    pub fn parse(rules: &str) -> Result<PrincipalMapper, String> {
        let mut parsed = Vec::new();
        let mut rest = rules.trim();
        while !rest.is_empty() {
            let (rule, after) = if let Some(after) = rest.strip_prefix("DEFAULT") {
                (Rule::Default, after)
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = until_slash(after)
                    .ok_or_else(|| format!("invalid rule: {rest} (RULE:pattern/replacement/)"))?;
                let (replacement, after) = until_slash(after)
                    .ok_or_else(|| format!("invalid rule: {rest} (RULE:pattern/replacement/)"))?;
                let (case, after) = match after.chars().next() {
                    Some('L') => (Case::Lower, after.get(1..).unwrap_or("")),
                    Some('U') => (Case::Upper, after.get(1..).unwrap_or("")),
                    _ => (Case::Keep, after),
                };
                let compile = |p: &str| {
                    Regex::new(p).map_err(|e| format!("invalid pattern in rule {rest}: {e}"))
                };
                let pattern = compile(pattern)?;
                check_replacement(replacement, pattern.captures_len().saturating_sub(1))
                    .map_err(|why| format!("invalid replacement in rule {rest}: {why}"))?;
                let rule = Rule::Replace {
                    whole: compile(&format!("^(?:{})$", pattern.as_str()))?,
                    pattern,
                    replacement: replacement.to_string(),
                    case,
                };
                // as Kafka's: anything after the flags, up to the comma, is ignored
                let after = after.find(',').map_or("", |i| after.get(i..).unwrap_or(""));
                (rule, after)
            } else {
                let bad = rest.split(',').next().unwrap_or(rest).trim();
                if !bad.is_empty() {
                    return Err(format!("invalid rule: {bad} (DEFAULT or RULE:...)"));
                }
                // an empty rule (`,,`) is skipped
                rest = rest.get(bad.len()..).unwrap_or("").trim_start();
                rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
                continue;
            };
            let after = after.trim_start();
            rest = match after.strip_prefix(',') {
                Some(next) => next.trim_start(),
                None if after.is_empty() => after,
                None => return Err(format!("invalid rule: unmatched {after}")),
            };
            parsed.push(rule);
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// The name of the subject `dn` (RFC 2253), or `None` when no rule matches it.
    pub fn name(&self, dn: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(dn.to_string()),
            Rule::Replace {
                whole,
                pattern,
                replacement,
                case,
            } => {
                if !whole.is_match(dn) {
                    return None;
                }
                let out = pattern
                    .replace_all(dn, |caps: &Captures<'_>| expand(replacement, caps))
                    .into_owned();
                Some(match case {
                    Case::Keep => out,
                    Case::Lower => out.to_lowercase(),
                    Case::Upper => out.to_uppercase(),
                })
            }
        })
    }
}

/// The text up to the first `/` not escaped with `\` (escapes kept, for the regex), and
/// what follows that `/`.
fn until_slash(s: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '/' => return Some((s.get(..i)?, s.get(i + 1..)?)),
            _ => {}
        }
    }
    None
}

/// Refuses a replacement Java's `replaceAll` would throw on when the rule is applied
/// (Kafka then fails the connection): `$` not followed by a group number, or a group
/// number when the pattern has no group.
fn check_replacement(replacement: &str, groups: usize) -> Result<(), String> {
    let mut chars = replacement.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '$' => match chars.next() {
                Some(d) if d.is_ascii_digit() && groups == 0 => {
                    return Err(format!("${d}, but the pattern has no group"))
                }
                Some(d) if d.is_ascii_digit() => {}
                _ => return Err("$ not followed by a group number (write \\$ for a $)".into()),
            },
            _ => {}
        }
    }
    Ok(())
}

/// Java's replacement syntax, as Kafka uses it: `$n` is group n (as many digits as make
/// a group that exists; a `$` before a group that does not exist is kept as it is),
/// `\x` is `x`.
fn expand(replacement: &str, caps: &Captures<'_>) -> String {
    let groups = caps.len().saturating_sub(1);
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '$' => {
                let Some(first) = chars.peek().and_then(|d| d.to_digit(10)) else {
                    out.push('$');
                    continue;
                };
                let first = first as usize;
                if first > groups {
                    out.push('$');
                    continue;
                }
                chars.next();
                let mut n = first;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    let more = n * 10 + d as usize;
                    if more > groups {
                        break;
                    }
                    n = more;
                    chars.next();
                }
                out.push_str(caps.get(n).map_or("", |m| m.as_str()));
            }
            c => out.push(c),
        }
    }
    out
}

/// The attribute types Java writes by keyword in RFC 2253 form; any other is written as
/// its OID, with its value in hex.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

fn keyword(oid: &ObjectIdentifier) -> Option<&'static str> {
    let oid = oid.to_string();
    KEYWORDS
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, keyword)| *keyword)
}

/// A name written as Java's `X500Principal.getName()` (RFC 2253) writes it: relative
/// names from the last to the first, joined by `,`; the values of a multi-valued one by
/// `+`; string values with `,=+<>#;"\` escaped by `\`; anything else (and any type
/// without a keyword) as `#` and the hex of its DER encoding.
pub fn rfc2253(name: &Name) -> String {
    let mut out = String::new();
    for (i, rdn) in name.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.0.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let keyword = keyword(&atv.oid);
            match keyword {
                Some(k) => out.push_str(k),
                None => out.push_str(&atv.oid.to_string()),
            }
            out.push('=');
            match keyword.and_then(|_| string_value(atv.value.tag(), atv.value.value())) {
                Some(s) => escape_into(&s, &mut out),
                None => {
                    out.push('#');
                    let der = atv.value.to_der().unwrap_or_default();
                    for b in der {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
        }
    }
    out
}

/// The value of a string type Java writes as text in RFC 2253 form.
fn string_value(tag: Tag, bytes: &[u8]) -> Option<String> {
    match tag {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String => {
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
        // T61: Java reads it as ISO-8859-1
        Tag::TeletexString => Some(bytes.iter().map(|&b| b as char).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| {
                    u16::from_be_bytes([
                        c.first().copied().unwrap_or(0),
                        c.get(1).copied().unwrap_or(0),
                    ])
                })
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    }
}

fn escape_into(value: &str, out: &mut String) {
    let chars: Vec<char> = value.chars().collect();
    // every leading and every trailing blank is escaped, inner ones are not (Java's
    // AVA.toRFC2253String); a value of blanks only is all leading
    let is_blank = |c: &char| matches!(c, ' ' | '\r');
    let lead = chars.iter().take_while(|c| is_blank(c)).count();
    let trailing = chars
        .iter()
        .skip(lead)
        .rev()
        .take_while(|c| is_blank(c))
        .count();
    let trail = chars.len().saturating_sub(trailing);
    for (i, c) in chars.iter().enumerate() {
        match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => {
                out.push('\\');
                out.push(*c);
            }
            '\0' => out.push_str("\\00"),
            ' ' | '\r' if i < lead || i >= trail => {
                out.push('\\');
                out.push(*c);
            }
            c => out.push(*c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rules: &str, dn: &str) -> Option<String> {
        PrincipalMapper::parse(rules).expect(rules).name(dn)
    }

    /// Kafka's documentation of `ssl.principal.mapping.rules` (KIP-371) and its
    /// SslPrincipalMapperTest's cases.
    #[test]
    fn kafkas_rules() {
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\
                     RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\
                     RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U,\
                     RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U,\
                     DEFAULT";
        for (dn, name) in [
            ("CN=Duke,OU=ServiceUsers,O=Org,C=US", "Duke"),
            ("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme"),
            ("cn=duke,ou=sme,dc=mycp,dc=com", "DUKE@SME"),
            ("cN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE"),
            (
                "OU=JavaSoft,O=Sun Microsystems,C=US",
                "OU=JavaSoft,O=Sun Microsystems,C=US",
            ),
        ] {
            assert_eq!(map(rules, dn).as_deref(), Some(name), "{dn}");
        }
        assert_eq!(map("DEFAULT", "CN=a,O=b").as_deref(), Some("CN=a,O=b"));
        // no rule matches: refused
        assert_eq!(map("RULE:^CN=(.*)$/$1/", "O=x,CN=y"), None);
        // spaces around rules, a slash escaped in the pattern, junk after the flag
        assert_eq!(
            map(" RULE:^CN=(.*)\\/x$/$1/Lzz , DEFAULT ", "CN=AB/x").as_deref(),
            Some("ab")
        );
        // a group that does not exist is kept as text; $12 is group 1 then "2"
        assert_eq!(
            map("RULE:^CN=(.*)$/$1$2$12/", "CN=a").as_deref(),
            Some("a$2a2")
        );
        // an escaped $ is a $
        assert_eq!(map("RULE:^CN=(.*)$/\\$$1/", "CN=a").as_deref(), Some("$a"));
    }

    #[test]
    fn bad_rules_are_refused() {
        for rules in [
            "RULE:x",
            "RULE:x/y",
            "OTHER",
            "DEFAULT junk",
            "RULE:(/x/",
            // Java would throw on these replacements when applying them
            "RULE:^CN=.*$/$1/",
            "RULE:^CN=(.*)$/${name}/",
            "RULE:^CN=(.*)$/a$/",
        ] {
            assert!(PrincipalMapper::parse(rules).is_err(), "{rules}");
        }
        // empty rules are skipped
        assert_eq!(map(",DEFAULT,,", "CN=a").as_deref(), Some("CN=a"),);
    }

    #[test]
    fn names_are_written_as_java_writes_them() {
        use std::str::FromStr;
        // RdnSequence::from_str takes RFC 4514 text (most specific first) and stores it
        // in certificate order
        let name = Name::from_str("CN=client one,OU=eng+O=Acme,C=US").expect("name");
        assert_eq!(rfc2253(&name), "CN=client one,OU=eng+O=Acme,C=US");
        let name = Name::from_str("CN=a\\,b\\+c\\=d\\#e").expect("name");
        assert_eq!(rfc2253(&name), "CN=a\\,b\\+c\\=d\\#e");
        // Java 17: every leading and trailing blank escaped
        let mut out = String::new();
        escape_into("  a b  ", &mut out);
        assert_eq!(out, "\\ \\ a b\\ \\ ");
        // emailAddress has no keyword: OID and hex
        let name = Name::from_str("CN=x,1.2.840.113549.1.9.1=#160161").expect("name");
        assert_eq!(rfc2253(&name), "CN=x,1.2.840.113549.1.9.1=#160161");
    }
}
