package dev.lifebit.coreapi;

import java.util.List;

import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** GET /api/users: the seeded users, oldest first. */
@RestController
public class UserController {

    public record User(int id, String email, String name, String createdAt) {
    }

    private final JdbcTemplate jdbc;

    public UserController(JdbcTemplate jdbc) {
        this.jdbc = jdbc;
    }

    @GetMapping("/api/users")
    public List<User> users() {
        return jdbc.query("SELECT id, email, name, created_at FROM users ORDER BY id",
                (rs, n) -> new User(rs.getInt(1), rs.getString(2), rs.getString(3), String.valueOf(rs.getObject(4))));
    }
}
