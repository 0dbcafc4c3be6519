//! Runs a parsed shell [`Stmt`] against the root object on the server.
//!
//! A path is evaluated step by step; each step needs the previous one to have given a remote
//! object. `name(args)` is one RUN by name (not a GET then a call). Objects met on the way
//! (`child("a")` in `child("a").add(1)`) are dropped, and so released, as soon as the next
//! step has run. A path used as an argument (`absorb(child("a"))`) passes the object itself:
//! its proxy is kept alive until the call returns.

use std::fmt;

use rpc_client::{CallError, Member, Proxy, Returned};
use rpc_core::{Args, Value};

use crate::parse::{Arg, Expr, Path, Place, Slot, Step, Stmt};

/// What a statement gave back.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing to print: SET, DEL, item assignment and deletion, an empty line.
    Nothing,
    /// A value or a remote object.
    Returned(Returned),
    /// DIR entries.
    Members(Vec<Member>),
}

/// Why a statement failed.
#[derive(Debug)]
pub enum EvalError {
    /// The server (or the connection) failed the op.
    Call(CallError),
    /// A step needed a remote object and got data.
    NotAnObject {
        /// The path that gave data, as typed.
        path: String,
        /// The kind of the data (`int`, `list`, ...).
        kind: &'static str,
        /// What was to be done with it.
        wanted: String,
    },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Call(e) => fmt::Display::fmt(e, f),
            EvalError::NotAnObject { path, kind, wanted } => write!(
                f,
                "`{path}` gave a value of kind {kind}, not a remote object, so {wanted} cannot \
                 apply to it"
            ),
        }
    }
}

impl std::error::Error for EvalError {}

impl From<CallError> for EvalError {
    fn from(e: CallError) -> Self {
        EvalError::Call(e)
    }
}

/// Runs `stmt` with `root` as the root object. `help` and `exit` are the shell's business and
/// give [`Outcome::Nothing`] here.
///
/// # Errors
/// [`EvalError::Call`] when an op fails; [`EvalError::NotAnObject`] when a step needs an
/// object and the path gave data.
pub async fn run(root: &Proxy, stmt: &Stmt) -> Result<Outcome, EvalError> {
    match stmt {
        Stmt::Nothing | Stmt::Help | Stmt::Exit => Ok(Outcome::Nothing),
        Stmt::Dir(path) => {
            let object = object_at(root, path, "dir").await?;
            Ok(Outcome::Members(object.dir().await?))
        }
        Stmt::All(path) => {
            let object = object_at(root, path, "all").await?;
            Ok(Outcome::Returned(Returned::Value(object.all().await?)))
        }
        Stmt::Eval(Expr::Literal(value)) => Ok(Outcome::Returned(Returned::Value(value.clone()))),
        Stmt::Eval(Expr::Path(path)) => Ok(Outcome::Returned(eval_path(root, path).await?)),
        Stmt::Assign { place, value } => {
            let owner = owner_of(root, place).await?;
            let (value, _held) = eval_value(root, value).await?;
            match &place.slot {
                Slot::Field(name) => owner.set(name, value).await?,
                Slot::Key(key) => {
                    let (key, _held_key) = eval_value(root, key).await?;
                    owner
                        .call_with("set_item", Args::positional(vec![key, value]))
                        .await?;
                }
            }
            Ok(Outcome::Nothing)
        }
        Stmt::Delete(place) => {
            let owner = owner_of(root, place).await?;
            match &place.slot {
                Slot::Field(name) => owner.del(name).await?,
                Slot::Key(key) => {
                    let (key, _held) = eval_value(root, key).await?;
                    owner
                        .call_with("del_item", Args::positional(vec![key]))
                        .await?;
                }
            }
            Ok(Outcome::Nothing)
        }
    }
}

async fn owner_of(root: &Proxy, place: &Place) -> Result<Proxy, EvalError> {
    let wanted = match &place.slot {
        Slot::Field(name) => format!("`.{name}`"),
        Slot::Key(key) => format!("`[{key}]`"),
    };
    object_at(root, &place.owner, &wanted).await
}

/// Evaluates `path` and requires a remote object, for `wanted` (named in the error).
async fn object_at(root: &Proxy, path: &Path, wanted: &str) -> Result<Proxy, EvalError> {
    match eval_path(root, path).await? {
        Returned::Object(object) => Ok(object),
        Returned::Value(value) => Err(EvalError::NotAnObject {
            path: path.to_string(),
            kind: value.kind_name(),
            wanted: wanted.to_owned(),
        }),
    }
}

/// Evaluates a path from the root.
///
/// # Errors
/// As [`run`].
pub async fn eval_path(root: &Proxy, path: &Path) -> Result<Returned, EvalError> {
    let steps = &path.steps;
    let mut current = Returned::Object(root.clone());
    let mut i = 0;
    while i < steps.len() {
        let object = match current {
            Returned::Object(object) => object,
            Returned::Value(value) => {
                return Err(EvalError::NotAnObject {
                    path: Path {
                        steps: steps[..i].to_vec(),
                    }
                    .to_string(),
                    kind: value.kind_name(),
                    wanted: format!("`{}`", steps[i]),
                });
            }
        };
        current = match (&steps[i], steps.get(i + 1)) {
            (Step::Attr(name), Some(Step::Call(args))) => {
                i += 1;
                let (args, _held) = eval_args(root, args).await?;
                object.call_with(name, args).await?
            }
            (Step::Attr(name), _) => object.get(name).await?,
            (Step::Call(args), _) => {
                let (args, _held) = eval_args(root, args).await?;
                object.invoke_with(args).await?
            }
            (Step::Index(key), _) => {
                let (key, _held) = eval_value(root, key).await?;
                object
                    .call_with("get_item", Args::positional(vec![key]))
                    .await?
            }
        };
        // `object` (an intermediate result) is dropped here, which releases it.
        i += 1;
    }
    Ok(current)
}

/// Evaluates call arguments; the proxies returned must outlive the call that uses the
/// arguments, since the arguments carry only their ids.
async fn eval_args(root: &Proxy, args: &[Arg]) -> Result<(Args, Vec<Proxy>), EvalError> {
    let mut out = Args::new();
    let mut held = Vec::new();
    for arg in args {
        let (value, proxy) = eval_value(root, &arg.value).await?;
        held.extend(proxy);
        match &arg.name {
            Some(name) => out.named.push((name.clone(), value)),
            None => out.positional.push(value),
        }
    }
    Ok((out, held))
}

/// Evaluates an expression into a value to send: data as is, a remote object as its handle,
/// with the proxy to keep alive until the value has been sent and used.
async fn eval_value(root: &Proxy, expr: &Expr) -> Result<(Value, Option<Proxy>), EvalError> {
    match expr {
        Expr::Literal(value) => Ok((value.clone(), None)),
        // Boxed: paths nest inside arguments, so this recursion needs an indirection.
        Expr::Path(path) => match Box::pin(eval_path(root, path)).await? {
            Returned::Value(value) => Ok((value, None)),
            Returned::Object(proxy) => Ok((Value::Handle(proxy.id()), Some(proxy))),
        },
    }
}
