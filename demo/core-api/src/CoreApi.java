import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The demo's Core API: a stand-in for the original Spring Boot service, in plain
 * Java 17 (JDK HTTP server + the PostgreSQL JDBC driver), with Spring-like logs.
 *
 * <pre>
 *   GET /api/health/db  200 {"database":"Connected","status":"OK","userCount":7}
 *                       503 {"database":"Disconnected","status":"ERROR","error":"..."}
 *   GET /api/health     200 {"status":"OK","service":"LifeBit Core-API"}
 *   GET /api/users      200 [{"id":1,"email":"...","name":"..."}, ...]
 * </pre>
 *
 * Settings (environment): PORT (8080), DB_HOST (127.0.0.1), DB_PORT (5432),
 * DB_NAME (lifebit_db), DB_USER (lifebit_user), DB_PASSWORD (lifebit_pass),
 * CORS_ALLOWED_ORIGINS (http://localhost:5173,http://127.0.0.1:5173).
 */
public final class CoreApi {
    private static final String APP = "CoreApi";
    private static final int CONNECT_TIMEOUT_S = 2;
    private static final int QUERY_TIMEOUT_S = 3;
    private static final DateTimeFormatter TS =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    private static final long PID = ProcessHandle.current().pid();

    private final int port;
    private final String jdbcUrl;
    private final Properties dbProps = new Properties();
    private final List<String> allowedOrigins;

    private CoreApi() {
        port = Integer.parseInt(env("PORT", "8080"));
        jdbcUrl = "jdbc:postgresql://" + env("DB_HOST", "127.0.0.1") + ":" + env("DB_PORT", "5432")
                + "/" + env("DB_NAME", "lifebit_db");
        dbProps.setProperty("user", env("DB_USER", "lifebit_user"));
        dbProps.setProperty("password", env("DB_PASSWORD", "lifebit_pass"));
        dbProps.setProperty("connectTimeout", String.valueOf(CONNECT_TIMEOUT_S));
        dbProps.setProperty("loginTimeout", String.valueOf(CONNECT_TIMEOUT_S + QUERY_TIMEOUT_S));
        dbProps.setProperty("socketTimeout", String.valueOf(QUERY_TIMEOUT_S + 2));
        dbProps.setProperty("ApplicationName", "core-api");
        allowedOrigins = Arrays.stream(
                        env("CORS_ALLOWED_ORIGINS", "http://localhost:5173,http://127.0.0.1:5173").split(","))
                .map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    public static void main(String[] args) {
        long t0 = System.nanoTime();
        CoreApi app = new CoreApi();
        log("INFO", "main", "Starting " + APP + " using Java " + System.getProperty("java.version")
                + " with PID " + PID);
        app.start(t0);
    }

    // ---------------------------------------------------------------- startup

    private void start(long t0) {
        try {
            Class.forName("org.postgresql.Driver");
        } catch (ClassNotFoundException e) {
            failedToStart("Failed to load the PostgreSQL JDBC driver (org.postgresql.Driver is not on the classpath).",
                    "Install it (apt-get install -y libpostgresql-jdbc-java) and run ./run.sh, which puts "
                            + "/usr/share/java/postgresql.jar on the classpath.");
        }

        log("INFO", "main", "Checking the database connection: " + jdbcUrl + " as " + dbProps.getProperty("user"));
        Connection c;
        try {
            c = connect();
        } catch (SQLException e) {
            failedToStart("Failed to connect to the database at " + jdbcUrl + ": " + reason(e),
                    "Make sure PostgreSQL is running and reachable (devstack up postgres), and check "
                            + "DB_HOST, DB_PORT, DB_NAME, DB_USER and DB_PASSWORD.");
            return;
        }
        try (c) {
            int users = countUsers(c);
            log("INFO", "main", "Database " + c.getMetaData().getDatabaseProductName() + " "
                    + c.getMetaData().getDatabaseProductVersion() + " connected; users table has " + users + " rows");
        } catch (SQLException e) {
            failedToStart("Failed to query the users table in the database at " + jdbcUrl + ": " + reason(e),
                    "Initialise the database with its schema and seed data (devstack setup postgres).");
        }

        HttpServer server;
        try {
            // The wildcard address: "::" (both IPv4 and IPv6) when the JVM has IPv6, else 0.0.0.0,
            // so http://localhost:PORT answers whichever family localhost resolves to.
            server = HttpServer.create(new InetSocketAddress(port), 128);
        } catch (BindException e) {
            failedToStart("Web server failed to start. Port " + port + " was already in use.",
                    "Identify and stop the process that's listening on port " + port
                            + " or configure this application to listen on another port (PORT).");
            return;
        } catch (IOException e) {
            failedToStart("Web server failed to start on port " + port + ": " + e, "Check the PORT setting.");
            return;
        }
        AtomicInteger n = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(16, r -> {
            Thread t = new Thread(r, "http-nio-" + port + "-exec-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(pool);
        server.createContext("/", this::handle);
        server.start();

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log("INFO", "shutdown", "Commencing graceful shutdown. Waiting for active requests to complete");
            server.stop(0);
            pool.shutdownNow();
            log("INFO", "shutdown", "Graceful shutdown complete");
        }, "shutdown"));

        InetAddress bound = server.getAddress().getAddress();
        String where = bound.isAnyLocalAddress() ? (bound.getAddress().length == 16 ? "[::] (IPv4 and IPv6)" : "0.0.0.0")
                : bound.getHostAddress();
        log("INFO", "main", "HttpServer started on port " + port + " (http) on " + where);
        double secs = (System.nanoTime() - t0) / 1e9;
        double uptime = ManagementFactory.getRuntimeMXBean().getUptime() / 1e3;
        log("INFO", "main", String.format("Started %s in %.3f seconds (process running for %.3f)", APP, secs, uptime));
    }

    private static void failedToStart(String description, String action) {
        log("ERROR", "main", "Application run failed");
        String block = "\n"
                + "***************************\n"
                + "APPLICATION FAILED TO START\n"
                + "***************************\n"
                + "\n"
                + "Description:\n"
                + "\n"
                + description + "\n"
                + "\n"
                + "Action:\n"
                + "\n"
                + action + "\n";
        System.out.println(block);
        System.out.flush();
        System.exit(1);
    }

    // --------------------------------------------------------------- database

    private Connection connect() throws SQLException {
        return DriverManager.getConnection(jdbcUrl, dbProps);
    }

    private static int countUsers(Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.setQueryTimeout(QUERY_TIMEOUT_S);
            try (ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM users")) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /** One line: the driver's message, with its cause when that says more. */
    private static String reason(Throwable e) {
        String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        Throwable cause = e.getCause();
        // pgjdbc's "Connection to HOST:PORT refused. ..." already says what a ConnectException would
        if (cause != null && cause.getMessage() != null && !msg.contains(cause.getMessage())
                && !(cause instanceof java.net.ConnectException)) {
            msg = msg + " (" + cause.getClass().getSimpleName() + ": " + cause.getMessage() + ")";
        }
        return msg.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
    }

    // ------------------------------------------------------------------- http

    private void handle(HttpExchange ex) throws IOException {
        long t = System.nanoTime();
        int status = 500;
        try {
            String method = ex.getRequestMethod();
            String path = ex.getRequestURI().getPath();
            addCors(ex);
            if (method.equals("OPTIONS")) {
                ex.getResponseHeaders().set("Allow", "GET, HEAD, OPTIONS");
                status = 204;
                ex.sendResponseHeaders(status, -1);
                return;
            }
            String route = path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
            boolean known = route.equals("/api/health/db") || route.equals("/api/health") || route.equals("/api/users");
            if (!known) {
                status = 404;
                send(ex, status, json(error(404, "Not Found", path)));
                return;
            }
            if (!method.equals("GET") && !method.equals("HEAD")) {
                ex.getResponseHeaders().set("Allow", "GET, HEAD, OPTIONS");
                status = 405;
                send(ex, status, json(error(405, "Method Not Allowed", path)));
                return;
            }
            switch (route) {
                case "/api/health/db" -> {
                    Map<String, Object> body = new LinkedHashMap<>();
                    try (Connection c = connect()) {
                        int users = countUsers(c);
                        body.put("database", "Connected");
                        body.put("status", "OK");
                        body.put("userCount", users);
                        status = 200;
                    } catch (SQLException e) {
                        body.put("database", "Disconnected");
                        body.put("status", "ERROR");
                        body.put("error", reason(e));
                        status = 503;
                        log("WARN", Thread.currentThread().getName(), "Database health check failed: " + reason(e));
                    }
                    send(ex, status, json(body));
                }
                case "/api/health" -> {
                    Map<String, Object> body = new LinkedHashMap<>();
                    body.put("status", "OK");
                    body.put("service", "LifeBit Core-API");
                    status = 200;
                    send(ex, status, json(body));
                }
                default -> { // "/api/users"
                    StringBuilder sb = new StringBuilder("[");
                    try (Connection c = connect(); Statement st = c.createStatement()) {
                        st.setQueryTimeout(QUERY_TIMEOUT_S);
                        try (ResultSet rs = st.executeQuery("SELECT id, email, name, created_at FROM users ORDER BY id")) {
                            while (rs.next()) {
                                Map<String, Object> u = new LinkedHashMap<>();
                                u.put("id", rs.getInt(1));
                                u.put("email", rs.getString(2));
                                u.put("name", rs.getString(3));
                                u.put("createdAt", String.valueOf(rs.getObject(4)));
                                if (sb.length() > 1) {
                                    sb.append(',');
                                }
                                sb.append(json(u));
                            }
                        }
                        status = 200;
                        send(ex, status, sb.append(']').toString());
                    } catch (SQLException e) {
                        status = 503;
                        Map<String, Object> body = error(503, "Service Unavailable", path);
                        body.put("message", reason(e));
                        send(ex, status, json(body));
                    }
                }
            }
        } catch (RuntimeException e) {
            status = 500;
            log("ERROR", Thread.currentThread().getName(), "Request failed: " + e);
            try {
                send(ex, status, json(error(500, "Internal Server Error", ex.getRequestURI().getPath())));
            } catch (IOException | RuntimeException ignored) {
                // headers already sent or client gone
            }
        } finally {
            ex.close();
            String origin = ex.getRequestHeaders().getFirst("Origin");
            log("INFO", Thread.currentThread().getName(), String.format("%s %s %d %dms from %s%s",
                    ex.getRequestMethod(), ex.getRequestURI(), status, (System.nanoTime() - t) / 1_000_000,
                    ex.getRemoteAddress().getAddress().getHostAddress(),
                    origin == null ? "" : " origin=" + origin));
        }
    }

    private void addCors(HttpExchange ex) {
        Headers req = ex.getRequestHeaders();
        Headers res = ex.getResponseHeaders();
        res.add("Vary", "Origin");
        String origin = req.getFirst("Origin");
        if (origin == null || !allowedOrigins.contains(origin)) {
            return;
        }
        res.set("Access-Control-Allow-Origin", origin);
        if (ex.getRequestMethod().equals("OPTIONS")) {
            res.set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
            String asked = req.getFirst("Access-Control-Request-Headers");
            res.set("Access-Control-Allow-Headers", asked != null ? asked : "Content-Type, Authorization");
            res.set("Access-Control-Max-Age", "3600");
        }
    }

    private static void send(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }

    private static Map<String, Object> error(int status, String error, String path) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("timestamp", OffsetDateTime.now().truncatedTo(ChronoUnit.MILLIS).toString());
        body.put("status", status);
        body.put("error", error);
        body.put("path", path);
        return body;
    }

    // ---------------------------------------------------------------- helpers

    private static String json(Map<String, Object> map) {
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, Object> e : map.entrySet()) {
            Object v = e.getValue();
            String val = v == null ? "null" : v instanceof Number || v instanceof Boolean ? v.toString() : quote(v.toString());
            parts.add(quote(e.getKey()) + ":" + val);
        }
        return "{" + String.join(",", parts) + "}";
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (ch < 0x20) {
                        sb.append(String.format("\\u%04x", (int) ch));
                    } else {
                        sb.append(ch);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }

    private static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? def : v.trim();
    }

    /** Spring Boot's console format: time, level, pid, thread, logger, message. */
    private static synchronized void log(String level, String thread, String msg) {
        String th = thread.length() > 15 ? thread.substring(thread.length() - 15) : thread;
        System.out.printf("%s %5s %d --- [%15s] %-40s : %s%n",
                OffsetDateTime.now().format(TS), level, PID, th, "com.lifebit.coreapi." + APP, msg);
        System.out.flush();
    }
}
