//! Bind values for queries whose SQL is assembled at run time (search filters).

/// One value to bind to a `$n` placeholder.
#[derive(Clone, Debug)]
pub enum Arg {
    /// A 64-bit integer (ids, timestamps).
    I64(i64),
    /// A 32-bit integer (status codes).
    I32(i32),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
}

/// Binds every `Arg` in order to a `sqlx::query*` builder, for either backend.
#[macro_export]
#[doc(hidden)]
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args.iter() {
            q = match a {
                $crate::Arg::I64(v) => q.bind(*v),
                $crate::Arg::I32(v) => q.bind(*v),
                $crate::Arg::Text(v) => q.bind(v.clone()),
                $crate::Arg::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// Builds a `WHERE` clause and its arguments, numbering placeholders as it goes.
#[derive(Default, Debug)]
pub struct Filter {
    clauses: Vec<String>,
    /// The values bound so far, in placeholder order.
    pub args: Vec<Arg>,
}

impl Filter {
    /// An empty filter.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Adds a value and returns its placeholder (`$n`).
    pub fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    /// Adds a clause; `{}` in `sql` is replaced by the placeholder of `a`.
    pub fn push(&mut self, sql: &str, a: Arg) {
        let p = self.arg(a);
        self.clauses.push(sql.replace("{}", &p));
    }

    /// Adds a clause without an argument.
    pub fn raw(&mut self, sql: impl Into<String>) {
        self.clauses.push(sql.into());
    }

    /// `WHERE a AND b …`, or an empty string when no clause was added.
    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}
