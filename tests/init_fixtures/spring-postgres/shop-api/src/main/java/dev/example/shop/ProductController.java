package dev.example.shop;

import java.util.Map;

import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** GET /products/count: a real query, so a running app proves its database answers. */
@RestController
public class ProductController {

    private final JdbcTemplate jdbc;

    public ProductController(JdbcTemplate jdbc) {
        this.jdbc = jdbc;
    }

    @GetMapping("/products/count")
    public Map<String, Object> count() {
        return Map.of("database", jdbc.queryForObject("SELECT current_database()", String.class));
    }
}
