//! yizhan: a geo service for China's trade-union outdoor-worker stations (工会户外劳动者服务站).

/// Password hashes, session tokens and rate limits: the credentials toolbox.
pub mod auth;
/// Subcommands besides `serve` (import, export).
pub mod cli;
/// Flags, environment variables and their defaults.
pub mod config;
/// Coverage of the 15-minute circle: H3 grid, travel times, gaps, suggestions.
pub mod coverage;
/// Validated domain types: the bottom floor, no HTTP or SQL.
pub mod domain;
/// The one error type and its HTTP mapping.
pub mod error;
/// Positions from client IPs (MaxMind).
pub mod geoip;
/// The HTTP API and the web app's static files.
pub mod http;
/// The in-memory spatial index answering nearest queries.
pub mod index;
/// Station files in and out, and the demo seeds.
pub mod io;
/// Road networks from OpenStreetMap: graphs, snapping, nearest stations by travel time.
pub mod network;
/// The server loop: connection cap, header-read timeout, graceful drain.
pub mod serve;
/// Building and running the application.
pub mod startup;
/// The store trait and its two backends.
pub mod store;
/// Following other replicas' writes (LISTEN/NOTIFY and periodic resync).
pub mod sync;
/// Vector tiles of the stations: tile math, clustering, MVT encoding.
pub mod tiles;
