//! The descent over a generation expression's tokens, MySQL's precedence from OR down
//! to a primary: each step checks its operands' types and writes PostgreSQL's SQL.

use super::lex::Tok;
use super::{collation_differs, describe, Coll, Ty, Typed};
use crate::ident;

pub(super) struct Parser<'a> {
    toks: &'a [Tok],
    at: usize,
    operand: &'a dyn Fn(&str) -> Result<Typed, String>,
}

type R = Result<Typed, String>;

impl<'a> Parser<'a> {
    pub fn new(toks: &'a [Tok], operand: &'a dyn Fn(&str) -> Result<Typed, String>) -> Self {
        Parser { toks, at: 0, operand }
    }

    /// The whole expression: every token read.
    pub fn whole(mut self) -> R {
        let v = self.or()?;
        match self.toks.get(self.at) {
            None => Ok(v),
            Some(t) => Err(format!("{} has no sure PostgreSQL translation there", show(t))),
        }
    }

    fn word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn op(&self, o: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Op(x)) if x == o)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.word(w);
        self.at += usize::from(yes);
        yes
    }

    fn eat_op(&mut self, o: &str) -> bool {
        let yes = self.op(o);
        self.at += usize::from(yes);
        yes
    }

    fn expect_op(&mut self, o: &str) -> Result<(), String> {
        if self.eat_op(o) {
            Ok(())
        } else {
            Err(format!("expected `{o}`"))
        }
    }

    fn or(&mut self) -> R {
        let mut l = self.and()?;
        loop {
            if self.op("||") {
                return Err("`||` is OR in MySQL and concatenation in PostgreSQL".into());
            }
            if self.word("xor") {
                return Err("XOR has no sure PostgreSQL translation".into());
            }
            if !self.eat_word("or") {
                return Ok(l);
            }
            let r = self.and()?;
            l = logical("OR", l, r)?;
        }
    }

    fn and(&mut self) -> R {
        let mut l = self.not()?;
        while self.eat_word("and") || self.eat_op("&&") {
            let r = self.not()?;
            l = logical("AND", l, r)?;
        }
        Ok(l)
    }

    fn not(&mut self) -> R {
        if !self.eat_word("not") {
            return self.predicate();
        }
        let v = self.not()?;
        truth(&v)?;
        Ok(Typed { sql: format!("(NOT {})", v.sql), ty: Ty::Bool })
    }

    /// A comparison, IS [NOT] NULL, [NOT] LIKE / IN / BETWEEN, or an operand alone.
    fn predicate(&mut self) -> R {
        let l = self.additive()?;
        if let Some(Tok::Op(o)) = self.toks.get(self.at) {
            let pg = match o.as_str() {
                "=" | "<" | ">" | "<=" | ">=" | "<>" => Some(o.clone()),
                "!=" => Some("<>".into()),
                "<=>" => Some("IS NOT DISTINCT FROM".into()),
                _ => None,
            };
            if let Some(pg) = pg {
                self.at += 1;
                let r = self.additive()?;
                let how = compared(&[&l, &r])?;
                let sql = match how {
                    Cmp::Padded(c) if !matches!(pg.as_str(), "=" | "<>" | "IS NOT DISTINCT FROM") => {
                        return Err(collation_differs(&c))
                    }
                    Cmp::Padded(_) => format!("({} {pg} {})", collated(&l, &how), padded(&r)),
                    _ => format!("({} {pg} {})", collated(&l, &how), r.sql),
                };
                return Ok(Typed { sql, ty: Ty::Bool });
            }
        }
        if self.eat_word("is") {
            let not = if self.eat_word("not") { "NOT " } else { "" };
            if !self.eat_word("null") {
                return Err("IS TRUE / IS FALSE (MySQL tests a number) has no sure PostgreSQL translation".into());
            }
            return Ok(Typed { sql: format!("({} IS {not}NULL)", l.sql), ty: Ty::Bool });
        }
        let negated = self.word("not")
            && matches!(self.toks.get(self.at + 1), Some(Tok::Word(w)) if ["like", "in", "between"].iter().any(|k| w.eq_ignore_ascii_case(k)));
        self.at += usize::from(negated);
        let not = if negated { "NOT " } else { "" };
        if self.eat_word("like") {
            let r = self.additive()?;
            if self.word("escape") {
                return Err("LIKE … ESCAPE has no sure PostgreSQL translation".into());
            }
            // LIKE compares character by character: trailing spaces count under PAD SPACE too.
            if compared(&[&l, &r])? == Cmp::Values {
                return Err("LIKE on values that are not text: MySQL converts them to text".into());
            }
            return Ok(Typed { sql: format!("({} {not}LIKE {})", collated(&l, &Cmp::Text), r.sql), ty: Ty::Bool });
        }
        if self.eat_word("in") {
            self.expect_op("(")?;
            let items = self.list()?;
            let mut all = vec![&l];
            all.extend(items.iter());
            let how = compared(&all)?;
            let sqls: Vec<String> =
                items.iter().map(|v| if matches!(how, Cmp::Padded(_)) { padded(v) } else { v.sql.clone() }).collect();
            return Ok(Typed { sql: format!("({} {not}IN ({}))", collated(&l, &how), sqls.join(", ")), ty: Ty::Bool });
        }
        if self.eat_word("between") {
            let lo = self.additive()?;
            if !self.eat_word("and") {
                return Err("BETWEEN without AND".into());
            }
            let hi = self.additive()?;
            let how = compared(&[&l, &lo, &hi])?;
            if let Cmp::Padded(c) = how {
                return Err(collation_differs(&c));
            }
            let sql = format!("({} {not}BETWEEN {} AND {})", collated(&l, &how), lo.sql, hi.sql);
            return Ok(Typed { sql, ty: Ty::Bool });
        }
        Ok(l)
    }

    /// Expressions separated by commas, up to and including `)`.
    fn list(&mut self) -> Result<Vec<Typed>, String> {
        let mut out = Vec::new();
        if self.eat_op(")") {
            return Ok(out);
        }
        loop {
            out.push(self.or()?);
            if self.eat_op(")") {
                return Ok(out);
            }
            self.expect_op(",")?;
        }
    }

    fn additive(&mut self) -> R {
        let mut l = self.multiplicative()?;
        loop {
            let op = if self.eat_op("+") {
                "+"
            } else if self.eat_op("-") {
                "-"
            } else {
                return Ok(l);
            };
            let r = self.multiplicative()?;
            l = arith(op, l, r)?;
        }
    }

    fn multiplicative(&mut self) -> R {
        let mut l = self.unary()?;
        loop {
            if self.eat_op("*") {
                let r = self.unary()?;
                l = arith("*", l, r)?;
            } else if self.eat_op("%") || self.eat_word("mod") {
                let r = self.unary()?;
                l = modulo(l, r)?;
            } else if self.op("/") || self.word("div") {
                return Err("division (MySQL's `/` is exact and NULL by zero; PostgreSQL's truncates integers and fails by zero)".into());
            } else {
                return Ok(l);
            }
        }
    }

    fn unary(&mut self) -> R {
        if self.eat_op("-") {
            let v = self.unary()?;
            return negate(v);
        }
        if self.eat_op("!") {
            let v = self.unary()?;
            truth(&v)?;
            return Ok(Typed { sql: format!("(NOT {})", v.sql), ty: Ty::Bool });
        }
        self.primary()
    }

    fn primary(&mut self) -> R {
        let toks = self.toks;
        let t = toks.get(self.at).ok_or("the expression ends early")?;
        self.at += 1;
        match t {
            Tok::Op(o) if o == "(" => {
                let v = self.or()?;
                self.expect_op(")")?;
                Ok(Typed { sql: format!("({})", v.sql), ty: v.ty })
            }
            Tok::Name(n) => (self.operand)(n),
            Tok::Str(s) => Ok(Typed { sql: ident::pg_literal(s), ty: Ty::Text(Coll::Literal) }),
            Tok::Num(n) => number(n),
            Tok::Word(w) if w.starts_with('_') && matches!(self.toks.get(self.at), Some(Tok::Str(_))) => {
                match w.to_ascii_lowercase().as_str() {
                    "_utf8mb4" | "_utf8mb3" | "_utf8" => self.primary(),
                    _ => Err(format!("a {w} string literal has no sure PostgreSQL translation")),
                }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Ok(Typed { sql: "NULL".into(), ty: Ty::Null }),
            Tok::Word(w) if self.op("(") => {
                self.at += 1;
                let args = self.list()?;
                call(w, args)
            }
            other => Err(format!("{} has no sure PostgreSQL translation", show(other))),
        }
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Name(n) => format!("`{n}`"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(s) | Tok::Word(s) | Tok::Op(s) => format!("`{s}`"),
    }
}

/// A number literal: an integer, an exact decimal, or (with an exponent) a double.
fn number(n: &str) -> R {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if n.contains(['e', 'E']) && n.parse::<f64>().is_ok_and(f64::is_finite) && !n.starts_with("0x") {
        return Ok(Typed { sql: format!("CAST('{n}' AS double precision)"), ty: Ty::Double });
    }
    if let Some((int, frac)) = n.split_once('.').filter(|(i, f)| (i.is_empty() || digits(i)) && digits(f)) {
        let whole = int.trim_start_matches('0').len() as u32;
        let scale = frac.len() as u32;
        return Ok(Typed {
            sql: n.to_string(),
            ty: Ty::Dec { precision: (whole + scale).max(1), scale, unsigned: false },
        });
    }
    if digits(n) && n.parse::<i64>().is_ok() {
        return Ok(Typed { sql: n.to_string(), ty: Ty::Int { unsigned: false, wide: false } });
    }
    Err(format!("`{n}` is not a number PostgreSQL reads the same"))
}

/// The SQL of `v` as a bigint (MySQL computes integer arithmetic in BIGINT); an
/// unsigned one is left as it is (a bigint unsigned is created numeric(20,0)).
fn wide(v: &Typed) -> String {
    match v.ty {
        Ty::Int { wide: false, unsigned: false } => format!("CAST({} AS bigint)", v.sql),
        _ => v.sql.clone(),
    }
}

/// An operand of arithmetic: a signed number or NULL.
fn numeric(v: &Typed, op: &str) -> Result<(), String> {
    match &v.ty {
        Ty::Null | Ty::Double | Ty::Int { unsigned: false, .. } | Ty::Dec { unsigned: false, .. } => Ok(()),
        Ty::Int { .. } | Ty::Dec { .. } => Err(format!(
            "`{op}` on an unsigned value: MySQL computes it unsigned and refuses a negative result, PostgreSQL computes it signed"
        )),
        Ty::Opaque(why) => Err(why.clone()),
        other => Err(format!("`{op}` of {}: MySQL computes with it as a number, PostgreSQL does not", describe(other))),
    }
}

fn arith(op: &str, l: Typed, r: Typed) -> R {
    numeric(&l, op)?;
    numeric(&r, op)?;
    let ty = match (&l.ty, &r.ty) {
        (Ty::Null, Ty::Null) => return Ok(Typed { sql: "NULL".into(), ty: Ty::Null }),
        (Ty::Null, t) | (t, Ty::Null) => t.clone(),
        (Ty::Int { .. }, Ty::Int { .. }) => Ty::Int { unsigned: false, wide: true },
        (Ty::Double, Ty::Int { .. } | Ty::Double) | (Ty::Int { .. }, Ty::Double) => Ty::Double,
        (Ty::Double, _) | (_, Ty::Double) => {
            return Err(format!("`{op}` of a double and a decimal: the decimal's conversion is not sure to match"))
        }
        (a, b) => decimal(op, exact(a), exact(b))?,
    };
    let sql = if matches!(ty, Ty::Int { .. }) {
        format!("({} {op} {})", wide(&l), wide(&r))
    } else {
        format!("({} {op} {})", l.sql, r.sql)
    };
    Ok(Typed { sql, ty })
}

/// Precision and scale of an exact number.
fn exact(ty: &Ty) -> (u32, u32) {
    match ty {
        Ty::Dec { precision, scale, .. } => (*precision, *scale),
        _ => (20, 0),
    }
}

/// The decimal `l op r`, while it stays within MySQL's decimal(65, 30).
fn decimal(op: &str, (p1, s1): (u32, u32), (p2, s2): (u32, u32)) -> Result<Ty, String> {
    let (precision, scale) = match op {
        "*" => (p1 + p2, s1 + s2),
        _ => ((p1 - s1).max(p2 - s2) + s1.max(s2) + 1, s1.max(s2)),
    };
    if precision > 65 || scale > 30 {
        return Err(format!(
            "`{op}` of decimals beyond MySQL's decimal(65,30), where MySQL rounds and PostgreSQL does not"
        ));
    }
    Ok(Ty::Dec { precision, scale, unsigned: false })
}

/// `l MOD r` for a signed integer and a non-zero integer literal (MySQL's is NULL by
/// zero, PostgreSQL's fails).
fn modulo(l: Typed, r: Typed) -> R {
    numeric(&l, "MOD")?;
    let literal = r.sql.parse::<i64>().is_ok_and(|n| n != 0);
    if !matches!(l.ty, Ty::Int { .. } | Ty::Null) || !literal {
        return Err("MOD other than of an integer by a non-zero integer literal (MySQL's is NULL by zero)".into());
    }
    Ok(Typed { sql: format!("mod({}, {})", wide(&l), r.sql), ty: Ty::Int { unsigned: false, wide: true } })
}

fn negate(v: Typed) -> R {
    numeric(&v, "-")?;
    Ok(match v.ty {
        Ty::Null => v,
        Ty::Int { .. } => Typed { sql: format!("(- {})", wide(&v)), ty: Ty::Int { unsigned: false, wide: true } },
        _ => Typed { sql: format!("(- {})", v.sql), ty: v.ty },
    })
}

/// A truth value: a comparison's result or NULL.
fn truth(v: &Typed) -> Result<(), String> {
    match &v.ty {
        Ty::Bool | Ty::Null => Ok(()),
        Ty::Opaque(why) => Err(why.clone()),
        other => Err(format!(
            "{} used as a truth value: MySQL tests it as a number, PostgreSQL wants a boolean",
            describe(other)
        )),
    }
}

fn logical(op: &str, l: Typed, r: Typed) -> R {
    truth(&l)?;
    truth(&r)?;
    Ok(Typed { sql: format!("({} {op} {})", l.sql, r.sql), ty: Ty::Bool })
}

/// How values compare alike on both servers.
#[derive(Debug, PartialEq)]
enum Cmp {
    /// Numbers or truth values: as they are.
    Values,
    /// Text under a binary NO PAD collation: under PostgreSQL's "C".
    Text,
    /// Text under this binary PAD SPACE collation (`utf8mb4_bin`): equal when equal
    /// without trailing spaces, so `=`, `<>` and IN compare `rtrim(…, ' ')` under "C";
    /// an order is refused (a tab sorts before the padding space).
    Padded(String),
}

/// `v`'s SQL, under PostgreSQL's "C" collation when text is compared (without its
/// trailing spaces under PAD SPACE).
fn collated(v: &Typed, how: &Cmp) -> String {
    match how {
        Cmp::Values => v.sql.clone(),
        Cmp::Text => format!("({}) COLLATE \"C\"", v.sql),
        Cmp::Padded(_) => format!("({}) COLLATE \"C\"", padded(v)),
    }
}

fn padded(v: &Typed) -> String {
    format!("rtrim({}, ' ')", v.sql)
}

/// Collations `a` and `b` of text in one operation, as MySQL derives them (a literal
/// takes the other's); two different ones are not compared.
fn mix(a: &Coll, b: &Coll) -> Coll {
    match (a, b) {
        (Coll::Literal, c) | (c, Coll::Literal) => c.clone(),
        (Coll::Other(x), _) | (_, Coll::Other(x)) => Coll::Other(x.clone()),
        (x, y) if x == y => x.clone(),
        _ => Coll::Other("two different collations".into()),
    }
}

/// How `values` compare alike on both servers. Mixed kinds are refused: MySQL converts
/// one to the other's type.
fn compared(values: &[&Typed]) -> Result<Cmp, String> {
    let mut kind: Option<&Ty> = None;
    let mut coll = Coll::Literal;
    let (mut double, mut dec) = (false, false);
    for v in values {
        let same = match (&v.ty, kind) {
            (Ty::Null, _) => continue,
            (Ty::Opaque(why), _) => return Err(why.clone()),
            (Ty::Flag, _) => return Err(format!("a comparison with {}", describe(&Ty::Flag))),
            (_, None) => true,
            (Ty::Int { .. } | Ty::Dec { .. } | Ty::Double, Some(Ty::Int { .. } | Ty::Dec { .. } | Ty::Double)) => true,
            (Ty::Text(_), Some(Ty::Text(_))) | (Ty::Bool, Some(Ty::Bool)) => true,
            (Ty::Time(..), Some(other)) => v.ty == *other,
            (_, Some(_)) => false,
        };
        if !same {
            let first = kind.map(describe).unwrap_or_default();
            return Err(format!(
                "a comparison of {first} with {}: MySQL converts one to the other's type",
                describe(&v.ty)
            ));
        }
        kind = kind.or(Some(&v.ty));
        double |= v.ty == Ty::Double;
        dec |= matches!(v.ty, Ty::Dec { .. });
        if let Ty::Text(c) = &v.ty {
            coll = mix(&coll, c);
        }
    }
    if double && dec {
        return Err("a comparison of a double with a decimal: the decimal's conversion is not sure to match".into());
    }
    match (kind, coll) {
        (Some(Ty::Text(_)), Coll::Binary) => Ok(Cmp::Text),
        (Some(Ty::Text(_)), Coll::PadBinary(c)) => Ok(Cmp::Padded(c)),
        (Some(Ty::Text(_)), Coll::Other(c)) => Err(collation_differs(&c)),
        (Some(Ty::Text(_)), Coll::Literal) => {
            Err("a comparison of literals alone, under the connection's collation".into())
        }
        _ => Ok(Cmp::Values),
    }
}

/// A function on the whitelist, with its arguments' types checked.
fn call(name: &str, args: Vec<Typed>) -> R {
    let lname = name.to_ascii_lowercase();
    let one = |args: &[Typed]| -> Result<Typed, String> {
        match args {
            [a] => Ok(a.clone()),
            _ => Err(format!("{name}() with {} arguments", args.len())),
        }
    };
    match lname.as_str() {
        "concat" => concat(args),
        "char_length" | "character_length" | "octet_length" | "length" => {
            let a = one(&args)?;
            text_arg(&a, name)?;
            let f = if lname.starts_with("char") { "char_length" } else { "octet_length" };
            Ok(Typed { sql: format!("{f}({})", a.sql), ty: Ty::Int { unsigned: false, wide: false } })
        }
        "trim" | "ltrim" | "rtrim" => {
            let a = one(&args)?;
            text_arg(&a, name)?;
            Ok(Typed { sql: format!("{lname}({})", a.sql), ty: a.ty })
        }
        "abs" | "floor" | "ceil" | "ceiling" => {
            let a = one(&args)?;
            numeric(&a, name)?;
            let f = if lname == "ceiling" { "ceil" } else { lname.as_str() };
            Ok(match a.ty {
                Ty::Int { .. } if f == "abs" => {
                    Typed { sql: format!("abs({})", wide(&a)), ty: Ty::Int { unsigned: false, wide: true } }
                }
                Ty::Int { .. } | Ty::Null => a,
                Ty::Dec { precision, .. } if f != "abs" => {
                    Typed { sql: format!("{f}({})", a.sql), ty: Ty::Dec { precision, scale: 0, unsigned: false } }
                }
                _ => Typed { sql: format!("{f}({})", a.sql), ty: a.ty },
            })
        }
        "ifnull" | "coalesce" if !args.is_empty() && (lname == "coalesce" || args.len() == 2) => coalesce(args),
        "nullif" if args.len() == 2 => {
            let how = compared(&[&args[0], &args[1]])?;
            if let Cmp::Padded(c) = how {
                return Err(collation_differs(&c));
            }
            let sql = format!("nullif({}, {})", collated(&args[0], &how), args[1].sql);
            Ok(Typed { sql, ty: args[0].ty.clone() })
        }
        "mod" if args.len() == 2 => {
            let mut args = args.into_iter();
            let (l, r) = (args.next().expect("two"), args.next().expect("two"));
            modulo(l, r)
        }
        "upper" | "lower" | "ucase" | "lcase" => {
            Err(format!("{name}() maps case by MySQL's collation tables, PostgreSQL's by its locale"))
        }
        _ => Err(format!("the function `{name}` has no sure PostgreSQL translation")),
    }
}

fn text_arg(a: &Typed, f: &str) -> Result<(), String> {
    match &a.ty {
        Ty::Text(_) | Ty::Null => Ok(()),
        Ty::Opaque(why) => Err(why.clone()),
        other => Err(format!("{f}() of {}: MySQL converts it to text its own way", describe(other))),
    }
}

/// MySQL's CONCAT: NULL when any part is (PostgreSQL's `||`, not its concat()); an
/// integer part is printed the same by both, nothing else is cast to text.
fn concat(args: Vec<Typed>) -> R {
    if args.is_empty() {
        return Err("concat() without arguments".into());
    }
    let mut coll = Coll::Literal;
    let mut parts = Vec::new();
    for a in &args {
        match &a.ty {
            Ty::Text(c) => {
                coll = mix(&coll, c);
                parts.push(a.sql.clone());
            }
            Ty::Int { .. } => parts.push(format!("CAST({} AS text)", a.sql)),
            Ty::Null => parts.push("CAST(NULL AS text)".into()),
            Ty::Opaque(why) => return Err(why.clone()),
            Ty::Double => {
                return Err(
                    "concat() of a double: MySQL prints it its own way (1e20 where PostgreSQL prints 1e+20)".into()
                )
            }
            Ty::Dec { .. } => return Err("concat() of a computed decimal: MySQL prints it with its own scale".into()),
            other => return Err(format!("concat() of {}: no implicit cast to text", describe(other))),
        }
    }
    Ok(Typed { sql: format!("({})", parts.join(" || ")), ty: Ty::Text(coll) })
}

/// COALESCE / IFNULL of values of one kind.
fn coalesce(args: Vec<Typed>) -> R {
    let mut ty = Ty::Null;
    for a in &args {
        ty = match (&ty, &a.ty) {
            (_, Ty::Opaque(why)) => return Err(why.clone()),
            (t, Ty::Null) | (Ty::Null, t) => t.clone(),
            (Ty::Int { unsigned: a, .. }, Ty::Int { unsigned: b, .. }) => Ty::Int { unsigned: *a || *b, wide: false },
            (Ty::Double, Ty::Double) | (Ty::Bool, Ty::Bool) => ty.clone(),
            (Ty::Time(..), b) if ty == *b => ty.clone(),
            (Ty::Dec { precision: p, scale: s, unsigned: u }, Ty::Dec { precision: q, scale: t, unsigned: v }) => {
                Ty::Dec { precision: (*p).max(*q), scale: (*s).max(*t), unsigned: *u || *v }
            }
            (Ty::Text(x), Ty::Text(y)) => Ty::Text(mix(x, y)),
            (a, b) => {
                return Err(format!(
                    "coalesce() of {} and {}: MySQL converts one to the other's type",
                    describe(a),
                    describe(b)
                ))
            }
        };
    }
    if ty == Ty::Flag {
        return Err(format!("coalesce() of {}", describe(&ty)));
    }
    let sqls: Vec<String> =
        args.iter().map(|a| if matches!(ty, Ty::Int { .. }) { wide(a) } else { a.sql.clone() }).collect();
    let ty = if let Ty::Int { unsigned, .. } = ty { Ty::Int { unsigned, wide: true } } else { ty };
    Ok(Typed { sql: format!("coalesce({})", sqls.join(", ")), ty })
}
