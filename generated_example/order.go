package generated_example

// OrderID identifies an order.
type OrderID uint32

// Order is a shopping cart on its way to checkout.
//
//livedict:store key=OrderID name=Orders ttl=2h
type Order struct {
	Customer string
	Lines    []Line
	Notes    map[string][]string
	Gift     *Gift
	Total    Cents
	Tags     [3]string
}

// Line is one line of an order.
type Line struct {
	SKU      string
	Quantity int
	Price    Cents
}

// Gift wraps an order.
type Gift struct {
	Message string
	Wrap    bool
}

// Cents is an amount of money in cents.
type Cents int64
