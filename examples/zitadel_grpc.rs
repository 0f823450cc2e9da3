//! The tasks API of ZITADEL's Go guide over gRPC (tonic): `ListTasks` for any authenticated
//! caller, `AddTask` for the role `admin`, behind the same `AuthLayer` as the HTTP example.
//! Unauthenticated calls get `UNAUTHENTICATED`, a missing role `PERMISSION_DENIED`.
//!
//! With no flags it starts the development issuer and prints tokens and `grpcurl` lines:
//!
//! ```sh
//! cargo run --example zitadel_grpc
//! ```
//!
//! Against a real ZITADEL instance:
//!
//! ```sh
//! cargo run --example zitadel_grpc -- --domain my-domain.zitadel.cloud --key ./api.json
//! ```
//!
//! `--call list|add --token T [--task TEXT] --addr URL` runs it as a client instead (used by the
//! tests; `grpcurl` works as well).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use clap::Parser;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use tower_authz::policy::{self, GrpcMethods};
use tower_authz::{AuthLayer, require};
// The code generated from examples/proto/tasks.proto (a crate of its own, built by its build.rs).
use tower_authz_examples_proto::tasks as pb;

use pb::task_service_client::TaskServiceClient;
use pb::task_service_server::{TaskService, TaskServiceServer};
use pb::{AddTaskRequest, AddTaskResponse, ListTasksRequest, ListTasksResponse};

#[path = "common/zitadel.rs"]
mod zitadel;

#[derive(Parser, Debug)]
#[command(about = "The ZITADEL Go guide's tasks API over gRPC, protected by tower-authz")]
struct Args {
    /// Your ZITADEL instance domain (https assumed) or a full URL. Without it, a development
    /// issuer is started.
    #[arg(long)]
    domain: Option<String>,
    /// The path to the API application's key.json.
    #[arg(long, requires = "domain")]
    key: Option<String>,
    /// The port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Run as a client: `list` or `add`.
    #[arg(long, value_parser = ["list", "add"])]
    call: Option<String>,
    /// The server's URL, for --call.
    #[arg(long, default_value = "http://127.0.0.1:8089")]
    addr: String,
    /// The bearer token, for --call.
    #[arg(long)]
    token: Option<String>,
    /// The task to add, for --call add.
    #[arg(long, default_value = "")]
    task: String,
}

#[derive(Default)]
struct TaskApi {
    tasks: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TaskService for TaskApi {
    async fn list_tasks(
        &self,
        request: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        let claims = tower_authz::grpc::claims(&request)?;
        let mut tasks = self.tasks.lock().map(|t| t.clone()).unwrap_or_default();
        if claims.has_role("admin") {
            tasks.push("create a new task on AddTask".to_owned());
        }
        Ok(Response::new(ListTasksResponse { tasks }))
    }

    async fn add_task(
        &self,
        request: Request<AddTaskRequest>,
    ) -> Result<Response<AddTaskResponse>, Status> {
        let task = request.into_inner().task.trim().to_owned();
        if task.is_empty() {
            return Err(Status::invalid_argument("task must not be empty"));
        }
        let message = format!("task `{task}` added");
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task);
        }
        Ok(Response::new(AddTaskResponse { message }))
    }
}

/// Adds `authorization: Bearer <token>` metadata.
fn authorize<T>(
    mut request: Request<T>,
    token: Option<&str>,
) -> Result<Request<T>, Box<dyn std::error::Error>> {
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    Ok(request)
}

/// `--call`: one request as a client; prints the answer or the status code.
async fn call(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let channel = Channel::from_shared(args.addr.clone())?.connect().await?;
    let mut client = TaskServiceClient::new(channel);
    let token = args.token.as_deref();
    let result = match args.call.as_deref() {
        Some("add") => client
            .add_task(authorize(
                Request::new(AddTaskRequest {
                    task: args.task.clone(),
                }),
                token,
            )?)
            .await
            .map(|r| r.into_inner().message),
        _ => client
            .list_tasks(authorize(Request::new(ListTasksRequest {}), token)?)
            .await
            .map(|r| format!("{:?}", r.into_inner().tasks)),
    };
    match result {
        Ok(answer) => println!("OK {answer}"),
        Err(status) => println!("{:?} {}", status.code(), status.message()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if args.call.is_some() {
        return call(&args).await;
    }

    // With no --domain: a development issuer, the API's key file, a user and an admin.
    let (verifier, dev, _key_path) =
        zitadel::verifier("zitadel-grpc", args.domain.as_deref(), args.key.as_deref()).await?;

    // One tonic service behind the AuthLayer and a rule per method: `ListTasks` for any
    // verified caller, `AddTask` for admins; any other method is refused.
    let rules = GrpcMethods::new()
        .method("/tasks.v1.TaskService/ListTasks", policy::authenticated())
        .method("/tasks.v1.TaskService/AddTask", policy::has_role("admin"));

    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    println!("zitadel_grpc listening on http://{local}");
    if let Some(issuer) = &dev {
        let user = issuer.personal_access_token("tasks-user");
        let admin = issuer.personal_access_token("tasks-admin");
        println!("development issuer: {}", issuer.issuer());
        println!("export token={user}");
        println!("export admin_token={admin}");
        println!("try (the example is its own client; grpcurl with -plaintext works as well):");
        println!("  cargo run --example zitadel_grpc -- --addr http://{local} --call list");
        println!(
            "  cargo run --example zitadel_grpc -- --addr http://{local} --call list --token=$token"
        );
        println!(
            "  cargo run --example zitadel_grpc -- --addr http://{local} --call add --token=$token --task 'My new task'"
        );
        println!(
            "  cargo run --example zitadel_grpc -- --addr http://{local} --call add --token=$admin_token --task 'My new task'"
        );
    }
    Server::builder()
        .layer(AuthLayer::new(verifier))
        .layer(require(rules))
        .add_service(TaskServiceServer::new(TaskApi::default()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}
