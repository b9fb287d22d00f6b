//! ACLs and the decisions of Kafka's `StandardAuthorizer`: who may do what to which
//! resource. Pure: the ACLs come in (a cluster's metadata image holds them, or a single
//! node's own store), a yes or no goes out.
//!
//! An [`Acl`] names a resource pattern (a type, a name, LITERAL or PREFIXED), a principal
//! (`User:alice`, or `User:*` for anyone), a host (an IP address as Java writes it, or `*`),
//! an operation and ALLOW or DENY. [`Authorizer::authorize`] decides as Kafka does
//! (`StandardAuthorizerData`):
//!
//! 1. a super user (`super.users`, exact `User:name` strings) may do anything;
//! 2. the ACLs that apply to the resource are its type's LITERAL ACLs of the exact name, the
//!    LITERAL `*` ones, and the PREFIXED ones whose name begins the resource's name;
//! 3. of those, an ACL matches the request when its principal is the caller's or `User:*`,
//!    its host the caller's address or `*`, and its operation the one asked, or ALL, or
//!    (for ALLOW only) one that implies it: READ, WRITE, DELETE and ALTER imply DESCRIBE,
//!    ALTER_CONFIGS implies DESCRIBE_CONFIGS;
//! 4. any matching DENY denies; else any matching ALLOW allows; else, when no ACL at all
//!    applies to the resource (for anyone), `allow.everyone.if.no.acl.found` decides
//!    (default: denied); else denied.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use super::KafkaPrincipal;

/// A resource type an ACL can name (Kafka's `ResourceType`; 0 UNKNOWN and 1 ANY are
/// filter values, not ACLs').
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

impl ResourceType {
    /// The operations an ACL on this type can grant (Kafka's `AclEntry.supportedOperations`):
    /// what an authorized-operations bit field reports.
    pub fn operations(self) -> &'static [AclOperation] {
        use AclOperation as O;
        match self {
            ResourceType::Topic => &[
                O::Read,
                O::Write,
                O::Create,
                O::Describe,
                O::Delete,
                O::Alter,
                O::DescribeConfigs,
                O::AlterConfigs,
            ],
            ResourceType::Group => &[
                O::Read,
                O::Describe,
                O::Delete,
                O::DescribeConfigs,
                O::AlterConfigs,
            ],
            ResourceType::Cluster => &[
                O::Create,
                O::ClusterAction,
                O::DescribeConfigs,
                O::AlterConfigs,
                O::IdempotentWrite,
                O::Alter,
                O::Describe,
            ],
            ResourceType::TransactionalId => &[O::Describe, O::Write],
            ResourceType::DelegationToken => &[O::Describe],
            ResourceType::User => &[O::CreateTokens, O::DescribeTokens],
        }
    }
}

/// The one name of the CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

macro_rules! codes {
    ($t:ident { $($v:ident = $code:literal, $name:literal;)* }) => {
        impl $t {
            /// Its code on the wire and in the metadata records.
            pub fn code(self) -> i8 {
                match self { $($t::$v => $code,)* }
            }
            pub fn from_code(code: i8) -> Option<$t> {
                match code { $($code => Some($t::$v),)* _ => None }
            }
            /// Kafka's name (`TOPIC`, `LITERAL`, `DESCRIBE_CONFIGS`, `ALLOW`).
            pub fn name(self) -> &'static str {
                match self { $($t::$v => $name,)* }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

codes!(ResourceType {
    Topic = 2, "TOPIC";
    Group = 3, "GROUP";
    Cluster = 4, "CLUSTER";
    TransactionalId = 5, "TRANSACTIONAL_ID";
    DelegationToken = 6, "DELEGATION_TOKEN";
    User = 7, "USER";
});

/// How an ACL's resource name matches (Kafka's `PatternType`; 1 ANY and 2 MATCH are
/// filter values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PatternType {
    Literal,
    Prefixed,
}

codes!(PatternType {
    Literal = 3, "LITERAL";
    Prefixed = 4, "PREFIXED";
});

/// An operation (Kafka's `AclOperation`; 1 ANY is a filter value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
}

codes!(AclOperation {
    All = 2, "ALL";
    Read = 3, "READ";
    Write = 4, "WRITE";
    Create = 5, "CREATE";
    Delete = 6, "DELETE";
    Alter = 7, "ALTER";
    Describe = 8, "DESCRIBE";
    ClusterAction = 9, "CLUSTER_ACTION";
    DescribeConfigs = 10, "DESCRIBE_CONFIGS";
    AlterConfigs = 11, "ALTER_CONFIGS";
    IdempotentWrite = 12, "IDEMPOTENT_WRITE";
    CreateTokens = 13, "CREATE_TOKENS";
    DescribeTokens = 14, "DESCRIBE_TOKENS";
});

impl AclOperation {
    /// Whether an ALLOW of `self` allows `asked` (ALL allows anything; READ, WRITE,
    /// DELETE and ALTER allow DESCRIBE; ALTER_CONFIGS allows DESCRIBE_CONFIGS).
    fn allows(self, asked: AclOperation) -> bool {
        use AclOperation as O;
        self == asked
            || self == O::All
            || (asked == O::Describe && matches!(self, O::Read | O::Write | O::Delete | O::Alter))
            || (asked == O::DescribeConfigs && self == O::AlterConfigs)
    }

    /// Whether a DENY of `self` denies `asked` (only itself, or ALL: a DENY implies
    /// nothing else).
    fn denies(self, asked: AclOperation) -> bool {
        self == asked || self == AclOperation::All
    }
}

/// ALLOW or DENY (Kafka's `AclPermissionType`; 1 ANY is a filter value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclPermission {
    Deny,
    Allow,
}

codes!(AclPermission {
    Deny = 2, "DENY";
    Allow = 3, "ALLOW";
});

/// One ACL (Kafka's `AclBinding`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Acl {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern: PatternType,
    /// `<type>:<name>`, e.g. `User:alice`; `User:*` is anyone.
    pub principal: String,
    /// An IP address as Java's `InetAddress.getHostAddress()` writes it, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl Acl {
    /// Whether this ACL's pattern applies to the resource `name` of its type.
    fn applies_to(&self, name: &str) -> bool {
        match self.pattern {
            PatternType::Literal => self.resource_name == name || self.resource_name == "*",
            PatternType::Prefixed => name.starts_with(&self.resource_name),
        }
    }

    /// Whether its principal is `principal`, or `User:*`.
    fn names(&self, principal: &KafkaPrincipal) -> bool {
        if self.principal == "User:*" {
            return true;
        }
        match self.principal.split_once(':') {
            Some((t, n)) => t == principal.principal_type && n == principal.name,
            None => false,
        }
    }
}

/// What DescribeAcls and DeleteAcls match ACLs with (Kafka's `AclBindingFilter`), in wire
/// codes: 1 is ANY for the type, pattern, operation and permission, 2 MATCH for the
/// pattern; `None` strings match any. An UNKNOWN code (0, or one Kafka does not know)
/// matches nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

/// The ANY code of the type, pattern, operation and permission filters.
pub const ANY: i8 = 1;
/// The MATCH code of a pattern filter: the ACLs that apply to the given name.
pub const MATCH: i8 = 2;

impl AclFilter {
    /// A filter that matches every ACL.
    pub fn any() -> Self {
        AclFilter {
            resource_type: ANY,
            resource_name: None,
            pattern: ANY,
            principal: None,
            host: None,
            operation: ANY,
            permission: ANY,
        }
    }

    /// Whether the resource pattern filter is UNKNOWN (DeleteAcls: "Unknown patternFilter.").
    pub fn unknown_pattern(&self) -> bool {
        (self.resource_type != ANY && ResourceType::from_code(self.resource_type).is_none())
            || !(self.pattern == ANY
                || self.pattern == MATCH
                || PatternType::from_code(self.pattern).is_some())
    }

    /// Whether the entry filter is UNKNOWN (DeleteAcls: "Unknown entryFilter.").
    pub fn unknown_entry(&self) -> bool {
        (self.operation != ANY && AclOperation::from_code(self.operation).is_none())
            || (self.permission != ANY && AclPermission::from_code(self.permission).is_none())
    }

    /// Kafka's `AclBindingFilter.matches`: exact names (or any), with MATCH applying as the
    /// authorizer would; principals and hosts compared as strings; no implied operations.
    pub fn matches(&self, acl: &Acl) -> bool {
        if self.unknown_pattern() || self.unknown_entry() {
            return false;
        }
        let type_ok = self.resource_type == ANY || self.resource_type == acl.resource_type.code();
        let name_ok = match (&self.resource_name, self.pattern) {
            (None, _) => true,
            (Some(name), MATCH) => acl.applies_to(name),
            (Some(name), _) => &acl.resource_name == name,
        };
        let pattern_ok =
            self.pattern == ANY || self.pattern == MATCH || self.pattern == acl.pattern.code();
        let str_ok = |f: &Option<String>, v: &str| f.as_deref().is_none_or(|f| f == v);
        type_ok
            && name_ok
            && pattern_ok
            && str_ok(&self.principal, &acl.principal)
            && str_ok(&self.host, &acl.host)
            && (self.operation == ANY || self.operation == acl.operation.code())
            && (self.permission == ANY || self.permission == acl.permission.code())
    }
}

/// A caller's address as Java's `getHostAddress()` writes it: IPv4 dotted, IPv6 as eight
/// uncompressed hex groups (`0:0:0:0:0:0:0:1`); an IPv4-mapped IPv6 address as its IPv4.
pub fn java_host(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6
            .segments()
            .iter()
            .map(|s| format!("{s:x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

/// Kafka's `StandardAuthorizer` settings: `super.users` and
/// `allow.everyone.if.no.acl.found`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authorizer {
    /// `User:name` strings, compared exactly (`User:*` here is no wildcard).
    pub super_users: BTreeSet<String>,
    pub allow_everyone_if_no_acl_found: bool,
}

impl Authorizer {
    pub fn is_super_user(&self, principal: &KafkaPrincipal) -> bool {
        self.super_users.contains(&principal.to_string())
    }

    /// May `principal`, connected from `host`, do `op` to the resource `(kind, name)`?
    pub fn authorize<'a>(
        &self,
        acls: impl IntoIterator<Item = &'a Acl>,
        principal: &KafkaPrincipal,
        host: &str,
        op: AclOperation,
        kind: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let (mut any_acl, mut allowed) = (false, false);
        for acl in acls {
            if acl.resource_type != kind || !acl.applies_to(name) {
                continue;
            }
            any_acl = true;
            if !acl.names(principal) || !(acl.host == "*" || acl.host == host) {
                continue;
            }
            match acl.permission {
                AclPermission::Deny if acl.operation.denies(op) => return false,
                AclPermission::Allow if acl.operation.allows(op) => allowed = true,
                _ => {}
            }
        }
        allowed || (!any_acl && self.allow_everyone_if_no_acl_found)
    }

    /// May `principal` do `op` to some resource of type `kind`? Kafka's
    /// `Authorizer.authorizeByResourceType` (InitProducerId without a transactional id asks
    /// it for WRITE on topics): allowed if the op is allowed on a resource named
    /// `hardcode` (a super user, an ALLOW on `*`, or no ACL at all with
    /// `allow.everyone.if.no.acl.found`), or if some ALLOW of the op (or ALL) for the caller
    /// is not overridden by a DENY of the same literal name or of a prefix of it. A DENY on
    /// the literal `*` denies at once. No operation implies another here.
    pub fn authorize_by_resource_type(
        &self,
        acls: &[&Acl],
        principal: &KafkaPrincipal,
        host: &str,
        op: AclOperation,
        kind: ResourceType,
    ) -> bool {
        if self.authorize(acls.iter().copied(), principal, host, op, kind, "hardcode") {
            return true;
        }
        let mut denied_literals = BTreeSet::new();
        let mut denied_prefixes = BTreeSet::new();
        let mut allowed = Vec::new();
        let mut allow_all = false;
        for acl in acls {
            let relevant = acl.resource_type == kind
                && (acl.host == "*" || acl.host == host)
                && acl.names(principal)
                && (acl.operation == op || acl.operation == AclOperation::All);
            if !relevant {
                continue;
            }
            match (acl.permission, acl.pattern) {
                (AclPermission::Deny, PatternType::Literal) if acl.resource_name == "*" => {
                    return false
                }
                (AclPermission::Deny, PatternType::Literal) => {
                    denied_literals.insert(acl.resource_name.as_str());
                }
                (AclPermission::Deny, PatternType::Prefixed) => {
                    denied_prefixes.insert(acl.resource_name.as_str());
                }
                (AclPermission::Allow, PatternType::Literal) if acl.resource_name == "*" => {
                    allow_all = true
                }
                (AclPermission::Allow, pattern) => {
                    allowed.push((pattern, acl.resource_name.as_str()))
                }
            }
        }
        if allow_all {
            return true;
        }
        let dominated = |name: &str| {
            (1..=name.len())
                .filter_map(|i| name.get(..i))
                .any(|p| denied_prefixes.contains(p))
        };
        allowed.iter().any(|&(pattern, name)| {
            let denied_literal = pattern == PatternType::Literal && denied_literals.contains(name);
            !(denied_literal || dominated(name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_a_type_is_kafkas_bit_field() {
        let bits = |t: ResourceType| t.operations().iter().fold(0, |b, o| b | (1 << o.code()));
        // what Kafka answers without an authorizer
        assert_eq!(bits(ResourceType::Topic), 3576);
        assert_eq!(bits(ResourceType::Group), 3400);
        assert_eq!(bits(ResourceType::Cluster), 8096);
    }

    fn acl(
        kind: ResourceType,
        name: &str,
        pattern: PatternType,
        principal: &str,
        op: AclOperation,
        permission: AclPermission,
    ) -> Acl {
        Acl {
            resource_type: kind,
            resource_name: name.into(),
            pattern,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission,
        }
    }

    use AclOperation as O;
    use AclPermission::{Allow, Deny};
    use PatternType::{Literal, Prefixed};
    use ResourceType::{Cluster, Group, Topic};

    #[test]
    fn decisions_follow_kafkas_standard_authorizer() {
        let alice = KafkaPrincipal::user("alice");
        let bob = KafkaPrincipal::user("bob");
        let acls = [
            acl(Topic, "orders", Literal, "User:alice", O::Read, Allow),
            acl(Topic, "pay", Prefixed, "User:alice", O::Write, Allow),
            acl(Topic, "pay-secret", Literal, "User:alice", O::All, Deny),
            acl(Topic, "*", Literal, "User:*", O::Describe, Allow),
            acl(Group, "g", Literal, "User:bob", O::Read, Allow),
            acl(
                Cluster,
                CLUSTER_NAME,
                Literal,
                "User:alice",
                O::AlterConfigs,
                Allow,
            ),
        ];
        let z = Authorizer::default();
        let can =
            |p: &KafkaPrincipal, op, kind, name| z.authorize(&acls, p, "10.0.0.1", op, kind, name);
        assert!(can(&alice, O::Read, Topic, "orders"));
        assert!(!can(&alice, O::Write, Topic, "orders"));
        // READ implies DESCRIBE, and so does the `*` ALLOW for anyone
        assert!(can(&alice, O::Describe, Topic, "orders"));
        assert!(can(&bob, O::Describe, Topic, "orders"));
        assert!(!can(&bob, O::Read, Topic, "orders"));
        // a prefix, and a DENY that wins over it
        assert!(can(&alice, O::Write, Topic, "payments"));
        assert!(!can(&alice, O::Write, Topic, "pay-secret"));
        assert!(
            !can(&alice, O::Describe, Topic, "pay-secret"),
            "DENY ALL denies DESCRIBE"
        );
        assert!(
            !can(&alice, O::Write, Topic, "pa"),
            "a prefix longer than the name"
        );
        // ALTER_CONFIGS implies DESCRIBE_CONFIGS, not the other way
        assert!(can(&alice, O::DescribeConfigs, Cluster, CLUSTER_NAME));
        assert!(!can(&alice, O::Alter, Cluster, CLUSTER_NAME));
        // no ACL on the group for alice: ACLs exist for the resource, so denied even with
        // allow.everyone.if.no.acl.found
        let open = Authorizer {
            allow_everyone_if_no_acl_found: true,
            ..Authorizer::default()
        };
        assert!(!open.authorize(&acls, &alice, "h", O::Read, Group, "g"));
        assert!(open.authorize(&acls, &alice, "h", O::Read, Group, "other"));
        assert!(!z.authorize(&acls, &alice, "h", O::Read, Group, "other"));
        // super users may do anything; `User:*` there is no wildcard
        let su = Authorizer {
            super_users: ["User:bob".to_string(), "User:*".to_string()].into(),
            ..Authorizer::default()
        };
        assert!(su.authorize(&acls, &bob, "h", O::Alter, Cluster, CLUSTER_NAME));
        assert!(!su.authorize(&acls, &alice, "h", O::Alter, Cluster, CLUSTER_NAME));
    }

    #[test]
    fn hosts_and_denies_imply_nothing_else() {
        let alice = KafkaPrincipal::user("alice");
        let mut from = acl(Topic, "t", Literal, "User:alice", O::Read, Allow);
        from.host = "10.0.0.1".into();
        let deny_read = acl(Topic, "t", Literal, "User:*", O::Read, Deny);
        let z = Authorizer::default();
        assert!(z.authorize([&from], &alice, "10.0.0.1", O::Read, Topic, "t"));
        assert!(!z.authorize([&from], &alice, "10.0.0.2", O::Read, Topic, "t"));
        let allow_describe = acl(Topic, "t", Literal, "User:alice", O::Describe, Allow);
        // DENY READ does not deny DESCRIBE
        assert!(z.authorize(
            [&deny_read, &allow_describe],
            &alice,
            "h",
            O::Describe,
            Topic,
            "t"
        ));
        assert!(!z.authorize([&deny_read, &from], &alice, "10.0.0.1", O::Read, Topic, "t"));
    }

    #[test]
    fn by_resource_type_as_init_producer_id_asks_it() {
        let alice = KafkaPrincipal::user("alice");
        let z = Authorizer::default();
        let w = |name: &str, pattern, permission| {
            acl(Topic, name, pattern, "User:alice", O::Write, permission)
        };
        let (a, b, c) = (
            w("t", Literal, Allow),
            w("t", Literal, Deny),
            w("x", Prefixed, Allow),
        );
        assert!(z.authorize_by_resource_type(&[&a], &alice, "h", O::Write, Topic));
        assert!(!z.authorize_by_resource_type(&[&a, &b], &alice, "h", O::Write, Topic));
        assert!(z.authorize_by_resource_type(&[&a, &b, &c], &alice, "h", O::Write, Topic));
        let deny_prefix = w("x", Prefixed, Deny);
        assert!(!z.authorize_by_resource_type(&[&c, &deny_prefix], &alice, "h", O::Write, Topic));
        let deny_all = w("*", Literal, Deny);
        assert!(!z.authorize_by_resource_type(&[&c, &deny_all], &alice, "h", O::Write, Topic));
        // READ does not count for WRITE
        let r = acl(Topic, "t", Literal, "User:alice", O::Read, Allow);
        assert!(!z.authorize_by_resource_type(&[&r], &alice, "h", O::Write, Topic));
    }

    #[test]
    fn filters_match_as_kafkas_acl_binding_filter() {
        let lit = acl(Topic, "orders", Literal, "User:alice", O::Read, Allow);
        let pre = acl(Topic, "ord", Prefixed, "User:alice", O::Read, Allow);
        let star = acl(Topic, "*", Literal, "User:*", O::All, Allow);
        let f = |name: Option<&str>, pattern: i8| AclFilter {
            resource_name: name.map(str::to_string),
            pattern,
            resource_type: ResourceType::Topic.code(),
            ..AclFilter::any()
        };
        let hits = |filter: &AclFilter| {
            [&lit, &pre, &star]
                .iter()
                .filter(|a| filter.matches(a))
                .count()
        };
        assert_eq!(hits(&AclFilter::any()), 3);
        assert_eq!(hits(&f(Some("orders"), Literal.code())), 1);
        assert_eq!(hits(&f(Some("orders"), ANY)), 1);
        assert_eq!(hits(&f(Some("orders"), MATCH)), 3);
        assert_eq!(hits(&f(Some("*"), Literal.code())), 1);
        assert_eq!(hits(&f(None, Prefixed.code())), 1);
        // operations are compared, not implied
        let read = AclFilter {
            operation: O::Read.code(),
            ..AclFilter::any()
        };
        assert_eq!(hits(&read), 2);
        let unknown = AclFilter {
            resource_type: 99,
            ..AclFilter::any()
        };
        assert!(unknown.unknown_pattern());
        assert_eq!(hits(&unknown), 0);
    }

    #[test]
    fn hosts_are_written_as_java_writes_them() {
        assert_eq!(java_host("127.0.0.1".parse().expect("ip")), "127.0.0.1");
        assert_eq!(java_host("::1".parse().expect("ip")), "0:0:0:0:0:0:0:1");
        assert_eq!(
            java_host("::ffff:10.1.2.3".parse().expect("ip")),
            "10.1.2.3"
        );
        assert_eq!(
            java_host("fe80::1:abcd".parse().expect("ip")),
            "fe80:0:0:0:0:0:1:abcd"
        );
    }
}
