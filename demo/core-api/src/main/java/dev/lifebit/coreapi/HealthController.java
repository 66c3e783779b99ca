package dev.lifebit.coreapi;

import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataAccessException;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * GET /api/health    200 {"status":"OK","service":"LifeBit Core-API"} while the app runs;
 * GET /api/health/db 200 {"database":"Connected","status":"OK","userCount":7} from a real query,
 *                    503 {"database":"Disconnected","status":"ERROR","error":"..."} while Postgres
 *                    cannot answer. The pool reconnects by itself, so the answer turns OK again
 *                    once Postgres is back, without a restart.
 */
@RestController
@RequestMapping("/api/health")
public class HealthController {

    private static final Logger log = LoggerFactory.getLogger(HealthController.class);

    private final JdbcTemplate jdbc;

    public HealthController(JdbcTemplate jdbc) {
        this.jdbc = jdbc;
    }

    @GetMapping
    public Map<String, Object> health() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", "OK");
        body.put("service", "LifeBit Core-API");
        return body;
    }

    @GetMapping("/db")
    public ResponseEntity<Map<String, Object>> database() {
        Map<String, Object> body = new LinkedHashMap<>();
        try {
            Integer users = jdbc.queryForObject("SELECT COUNT(*) FROM users", Integer.class);
            body.put("database", "Connected");
            body.put("status", "OK");
            body.put("userCount", users);
            return ResponseEntity.ok(body);
        } catch (DataAccessException e) {
            String reason = oneLine(driverError(e));
            log.warn("Database health check failed: {}", reason);
            body.put("database", "Disconnected");
            body.put("status", "ERROR");
            body.put("error", reason);
            return ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE).body(body);
        }
    }

    /**
     * The innermost SQLException: pgjdbc's own words ("Connection to 127.0.0.1:5432 refused…",
     * "FATAL: password authentication failed…"), which say more than the socket error under them.
     */
    static Throwable driverError(Throwable e) {
        Throwable found = e;
        for (Throwable t = e; t != null && t.getCause() != t; t = t.getCause()) {
            if (t instanceof SQLException) {
                found = t;
            }
        }
        return found;
    }

    /** One line: pgjdbc's messages span lines at times. */
    static String oneLine(Throwable e) {
        String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return msg.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
    }
}
