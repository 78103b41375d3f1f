//! The rule condition language: a small, total expression language over model attributes.
//!
//! It has no loops, no assignment, no function definitions and no access to anything but the
//! attribute table in [`crate::attrs`], so a rule file from another team can be loaded without
//! trusting it. Grammar (lowest precedence first):
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | compare
//! compare := operand (op operand)?      op: == != < <= > >= in contains
//! operand := path | string | number | true | false | null | list | "(" expr ")"
//! list    := "[" (operand ("," operand)*)? "]"
//! path    := ident ("." ident)*
//! ```
//!
//! Paths are resolved against the attribute table when a rule is compiled, so a misspelt
//! attribute is a load-time error with the rule id, not a silently false condition.

use std::fmt;

/// A parsed expression with attribute paths still as text (resolved in `attrs`).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<P> {
    Or(Vec<Expr<P>>),
    And(Vec<Expr<P>>),
    Not(Box<Expr<P>>),
    Compare(Box<Expr<P>>, CmpOp, Box<Expr<P>>),
    Path(P),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    List(Vec<Expr<P>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Contains,
}

/// A syntax error with the byte offset in the condition text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.offset + 1, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(CmpOp),
    And,
    Or,
    Not,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eof,
}

/// Deepest nesting accepted; conditions are written by people, so this is generous.
const MAX_DEPTH: usize = 64;

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, SyntaxError> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    let err = |offset, message: &str| SyntaxError {
        offset,
        message: message.to_string(),
    };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => out.push((start, Tok::LParen)),
            b')' => out.push((start, Tok::RParen)),
            b'[' => out.push((start, Tok::LBracket)),
            b']' => out.push((start, Tok::RBracket)),
            b',' => out.push((start, Tok::Comma)),
            b'=' | b'!' | b'<' | b'>' => {
                let next = bytes.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    (b'=', Some(b'=')) => (CmpOp::Eq, 2),
                    (b'!', Some(b'=')) => (CmpOp::Ne, 2),
                    (b'<', Some(b'=')) => (CmpOp::Le, 2),
                    (b'>', Some(b'=')) => (CmpOp::Ge, 2),
                    (b'<', _) => (CmpOp::Lt, 1),
                    (b'>', _) => (CmpOp::Gt, 1),
                    _ => return Err(err(start, "expected `==`, `!=`, `<`, `<=`, `>` or `>=`")),
                };
                out.push((start, Tok::Op(op)));
                i += len;
                continue;
            }
            b'"' | b'\'' => {
                let quote = c;
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != quote {
                    j += 1;
                }
                if j >= bytes.len() {
                    return Err(err(start, "unterminated string"));
                }
                out.push((start, Tok::Str(src[i + 1..j].to_string())));
                i = j + 1;
                continue;
            }
            b'0'..=b'9' | b'-' => {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                    j += 1;
                }
                let n: f64 = src[i..j]
                    .parse()
                    .map_err(|_| err(start, "malformed number"))?;
                out.push((start, Tok::Num(n)));
                i = j;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'_' | b'.' | b'-'))
                {
                    j += 1;
                }
                let word = &src[i..j];
                out.push((
                    start,
                    match word {
                        "and" => Tok::And,
                        "or" => Tok::Or,
                        "not" => Tok::Not,
                        "in" => Tok::Op(CmpOp::In),
                        "contains" => Tok::Op(CmpOp::Contains),
                        _ => Tok::Ident(word.to_string()),
                    },
                ));
                i = j;
                continue;
            }
            _ => {
                return Err(err(
                    start,
                    &format!(
                        "unexpected character `{}`",
                        src[start..].chars().next().unwrap_or('?')
                    ),
                ));
            }
        }
        i += 1;
    }
    out.push((src.len(), Tok::Eof));
    Ok(out)
}

/// Parses a condition into an expression with textual paths.
pub fn parse(src: &str) -> Result<Expr<String>, SyntaxError> {
    let toks = lex(src)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.or(0)?;
    match p.peek() {
        Tok::Eof => Ok(e),
        _ => Err(p.error("unexpected text after the end of the condition")),
    }
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map(|(_, t)| t).unwrap_or(&Tok::Eof)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map(|(o, _)| *o).unwrap_or(0)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn error(&self, message: &str) -> SyntaxError {
        SyntaxError {
            offset: self.offset(),
            message: message.to_string(),
        }
    }

    fn depth_check(&self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("condition is nested too deeply"));
        }
        Ok(())
    }

    fn or(&mut self, depth: usize) -> Result<Expr<String>, SyntaxError> {
        self.depth_check(depth)?;
        let mut items = vec![self.and(depth + 1)?];
        while *self.peek() == Tok::Or {
            self.next();
            items.push(self.and(depth + 1)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr<String>, SyntaxError> {
        self.depth_check(depth)?;
        let mut items = vec![self.unary(depth + 1)?];
        while *self.peek() == Tok::And {
            self.next();
            items.push(self.unary(depth + 1)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr<String>, SyntaxError> {
        self.depth_check(depth)?;
        if *self.peek() == Tok::Not {
            self.next();
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        let left = self.operand(depth + 1)?;
        if let Tok::Op(op) = *self.peek() {
            self.next();
            let right = self.operand(depth + 1)?;
            return Ok(Expr::Compare(Box::new(left), op, Box::new(right)));
        }
        Ok(left)
    }

    fn operand(&mut self, depth: usize) -> Result<Expr<String>, SyntaxError> {
        self.depth_check(depth)?;
        match self.next() {
            Tok::Ident(w) => Ok(match w.as_str() {
                "true" => Expr::Bool(true),
                "false" => Expr::Bool(false),
                "null" => Expr::Null,
                _ => Expr::Path(w),
            }),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::LParen => {
                let e = self.or(depth + 1)?;
                match self.next() {
                    Tok::RParen => Ok(e),
                    _ => {
                        self.pos -= 1;
                        Err(self.error("expected `)`"))
                    }
                }
            }
            Tok::LBracket => {
                let mut items = Vec::new();
                if *self.peek() == Tok::RBracket {
                    self.next();
                    return Ok(Expr::List(items));
                }
                loop {
                    items.push(self.operand(depth + 1)?);
                    match self.next() {
                        Tok::Comma => continue,
                        Tok::RBracket => break,
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("expected `,` or `]` in list"));
                        }
                    }
                }
                Ok(Expr::List(items))
            }
            _ => {
                self.pos -= 1;
                Err(self.error("expected an attribute, a value, `not` or `(`"))
            }
        }
    }
}

impl<P> Expr<P> {
    /// Rewrites every path, failing on the first that cannot be resolved.
    pub fn map_paths<Q, E>(self, f: &mut impl FnMut(P) -> Result<Q, E>) -> Result<Expr<Q>, E> {
        Ok(match self {
            Expr::Or(v) => Expr::Or(
                v.into_iter()
                    .map(|e| e.map_paths(f))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::And(v) => Expr::And(
                v.into_iter()
                    .map(|e| e.map_paths(f))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Not(e) => Expr::Not(Box::new(e.map_paths(f)?)),
            Expr::Compare(a, op, b) => {
                Expr::Compare(Box::new(a.map_paths(f)?), op, Box::new(b.map_paths(f)?))
            }
            Expr::Path(p) => Expr::Path(f(p)?),
            Expr::Str(s) => Expr::Str(s),
            Expr::Num(n) => Expr::Num(n),
            Expr::Bool(b) => Expr::Bool(b),
            Expr::Null => Expr::Null,
            Expr::List(v) => Expr::List(
                v.into_iter()
                    .map(|e| e.map_paths(f))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Every path in the expression, in order.
    pub fn paths(&self) -> Vec<&P> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Path(p) = e {
                out.push(p);
            }
        });
        out
    }

    fn walk<'s>(&'s self, f: &mut impl FnMut(&'s Expr<P>)) {
        f(self);
        match self {
            Expr::Or(v) | Expr::And(v) | Expr::List(v) => v.iter().for_each(|e| e.walk(f)),
            Expr::Not(e) => e.walk(f),
            Expr::Compare(a, _, b) => {
                a.walk(f);
                b.walk(f);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_precedence_and_lists() {
        let e = parse(r#"a.b == "x" or not c and d in ["p", 'q']"#).unwrap();
        match e {
            Expr::Or(items) => {
                assert_eq!(items.len(), 2);
                assert!(matches!(items[1], Expr::And(_)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reports_position_of_errors() {
        let err = parse("a == ").unwrap_err();
        assert_eq!(err.offset, 5);
        let err = parse("a == \"x").unwrap_err();
        assert!(err.message.contains("unterminated"));
        let err = parse("(a and b").unwrap_err();
        assert!(err.message.contains("`)`"));
        let err = parse("a = b").unwrap_err();
        assert_eq!(err.offset, 2);
    }

    #[test]
    fn bounds_nesting() {
        let deep = "(".repeat(500) + "a" + &")".repeat(500);
        assert!(parse(&deep).unwrap_err().message.contains("too deeply"));
    }
}
