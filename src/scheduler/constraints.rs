//! Placement constraints on agents (`--constraint`), Marathon-style:
//! `hostname:LIKE:<regex>`, `<attribute>:UNLIKE:<regex>`, `<field>:CLUSTER:<value>`
//! and the shorthand `<field>:<value>` for CLUSTER. A field is `hostname` or the
//! name of an agent attribute. Regexes match the whole value.

use std::fmt;
use std::str::FromStr;

use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("constraint {0:?} must be FIELD:VALUE or FIELD:OPERATOR:VALUE")]
    Malformed(String),
    #[error("constraint {constraint:?}: unknown operator {operator:?} (LIKE, UNLIKE, CLUSTER)")]
    UnknownOperator {
        constraint: String,
        operator: String,
    },
    #[error("constraint {constraint:?}: invalid regex: {reason}")]
    BadRegex { constraint: String, reason: String },
}

#[derive(Debug, Clone)]
enum Operator {
    Like(Regex),
    Unlike(Regex),
    Cluster(String),
}

/// One placement rule; an agent must satisfy every configured constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    text: String,
    field: String,
    operator: Operator,
}

impl PartialEq for Constraint {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Constraint {}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || ConstraintError::Malformed(s.to_owned());
        let (field, rest) = s.split_once(':').ok_or_else(malformed)?;
        if field.is_empty() || rest.is_empty() {
            return Err(malformed());
        }
        let regex = |pattern: &str| {
            Regex::new(&format!("^(?:{pattern})$")).map_err(|e| ConstraintError::BadRegex {
                constraint: s.to_owned(),
                reason: e.to_string(),
            })
        };
        let operator = match rest.split_once(':') {
            Some(("LIKE", pattern)) => Operator::Like(regex(pattern)?),
            Some(("UNLIKE", pattern)) => Operator::Unlike(regex(pattern)?),
            Some(("CLUSTER", value)) => Operator::Cluster(value.to_owned()),
            Some((op, _))
                if op.len() > 1 && op.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
            {
                return Err(ConstraintError::UnknownOperator {
                    constraint: s.to_owned(),
                    operator: op.to_owned(),
                });
            }
            // `rack:a:b` is the shorthand with a value that contains ':'.
            _ => Operator::Cluster(rest.to_owned()),
        };
        Ok(Constraint {
            text: s.to_owned(),
            field: field.to_owned(),
            operator,
        })
    }
}

impl Constraint {
    /// Whether an agent with this hostname and these attributes (name, value as
    /// text) satisfies the rule. An attribute the agent lacks satisfies only UNLIKE.
    pub fn admits(&self, hostname: &str, attributes: &[(String, String)]) -> bool {
        let value = if self.field == "hostname" {
            Some(hostname)
        } else {
            attributes
                .iter()
                .find(|(name, _)| *name == self.field)
                .map(|(_, v)| v.as_str())
        };
        match (&self.operator, value) {
            (Operator::Like(re), Some(v)) => re.is_match(v),
            (Operator::Unlike(re), Some(v)) => !re.is_match(v),
            (Operator::Unlike(_), None) => true,
            (Operator::Cluster(expected), Some(v)) => v == expected,
            (_, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn hostname_like_matches_whole_names() {
        let c: Constraint = "hostname:LIKE:web-[0-9]+".parse().unwrap();
        assert!(c.admits("web-12", &[]));
        assert!(!c.admits("web-12.example", &[]));
        assert!(!c.admits("db-1", &[]));
    }

    #[test]
    fn attribute_forms() {
        let rack = attrs(&[("rack", "r1"), ("zone", "eu:west")]);
        assert!("rack:r1".parse::<Constraint>().unwrap().admits("h", &rack));
        assert!(!"rack:r2".parse::<Constraint>().unwrap().admits("h", &rack));
        assert!(
            "rack:CLUSTER:r1"
                .parse::<Constraint>()
                .unwrap()
                .admits("h", &rack)
        );
        assert!(
            "zone:eu:west"
                .parse::<Constraint>()
                .unwrap()
                .admits("h", &rack)
        );
        assert!(!"gpu:true".parse::<Constraint>().unwrap().admits("h", &rack));
        assert!(
            "gpu:UNLIKE:true"
                .parse::<Constraint>()
                .unwrap()
                .admits("h", &rack)
        );
        assert!(
            !"rack:UNLIKE:r.*"
                .parse::<Constraint>()
                .unwrap()
                .admits("h", &rack)
        );
    }

    #[test]
    fn bad_constraints_are_explained() {
        assert!(matches!(
            "hostname".parse::<Constraint>(),
            Err(ConstraintError::Malformed(_))
        ));
        assert!(matches!(
            ":x".parse::<Constraint>(),
            Err(ConstraintError::Malformed(_))
        ));
        assert!(matches!(
            "hostname:GROUP_BY:3".parse::<Constraint>(),
            Err(ConstraintError::UnknownOperator { .. })
        ));
        assert!(matches!(
            "hostname:LIKE:(".parse::<Constraint>(),
            Err(ConstraintError::BadRegex { .. })
        ));
    }
}
